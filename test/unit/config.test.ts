// Start-up configuration: what an operator gets told when something is missing or
// wrong, and that options, environment variables and defaults combine as documented.
import assert from 'node:assert/strict'
import { generateKeyPairSync } from 'node:crypto'
import { test } from 'node:test'
import Fastify from 'fastify'
import pusher from '../../app.js'
import { DEFAULT_LIMITS, resolveConfig } from '../../lib/config/config.js'
import { descriptorLimit } from '../../lib/limits/descriptors.js'

const secret = 'x'.repeat(32)
const key = 'k'.repeat(20)
const refused = (pattern: RegExp) => (error: unknown) => {
  assert.equal((error as { code: string }).code, 'PUSHER_ERR_CONFIG')
  assert.match((error as Error).message, pattern)
  return true
}

test('registration without a JWT key or without an API key fails and names what to set', async () => {
  await assert.rejects(async () => { await Fastify().register(pusher, { apiKeys: [key], env: {} }).ready() }, refused(/JWT_SECRET.*JWT_PUBLIC_KEY.*PUSHER_DEV=true/))
  await assert.rejects(async () => { await Fastify().register(pusher, { jwt: { secret }, env: {} }).ready() }, refused(/PUSHER_API_KEY/))
})

test('environment variables fill in what options leave out; options win over them', () => {
  const env = { JWT_SECRET: secret, PUSHER_API_KEY: `${key}, second-key-second-key`, PUSHER_MAX_MESSAGE_BYTES: '2048', PUSHER_HEARTBEAT_INTERVAL_MS: '30000' }
  const fromEnv = resolveConfig({ env }, false)
  assert.equal(fromEnv.jwt?.key, secret)
  assert.deepEqual(fromEnv.jwt?.algorithms, ['HS256'])
  assert.deepEqual(fromEnv.apiKeys, [key, 'second-key-second-key'])
  assert.equal(fromEnv.maxMessageBytes, 2048)
  assert.equal(fromEnv.heartbeatIntervalMs, 30_000)
  assert.equal(fromEnv.maxBufferedBytes, DEFAULT_LIMITS.maxBufferedBytes)

  const overridden = resolveConfig({ env, maxMessageBytes: 512, apiKeys: ['option-key-option-key'] }, false)
  assert.equal(overridden.maxMessageBytes, 512)
  assert.deepEqual(overridden.apiKeys, ['option-key-option-key'])
})

test('malformed values are refused with the variable or option named', () => {
  assert.throws(() => resolveConfig({ env: { JWT_SECRET: secret, PUSHER_API_KEY: key, PUSHER_MAX_MESSAGE_BYTES: 'lots' } }, false), refused(/PUSHER_MAX_MESSAGE_BYTES/))
  assert.throws(() => resolveConfig({ jwt: { secret }, apiKeys: [key], maxBufferedBytes: 10, env: {} }, false), refused(/maxBufferedBytes must be >= 1024/))
  assert.throws(() => resolveConfig({ jwt: { secret }, apiKeys: [key], heartbeat: { intervalMs: 1000, timeoutMs: 1000 }, env: {} }, false), refused(/timeoutMs must be shorter than intervalMs/))
})

test('algorithms are pinned: no "none", no asymmetric algorithm with a shared secret, none that the key cannot verify', () => {
  const base = { apiKeys: [key], env: {} }
  assert.throws(() => resolveConfig({ ...base, jwt: { secret, algorithms: ['none' as 'HS256'] } }, false), refused(/"none" is not supported/))
  assert.throws(() => resolveConfig({ ...base, jwt: { secret, algorithms: ['RS256'] } }, false), refused(/secret can only verify HS256/))
  const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  assert.deepEqual(resolveConfig({ ...base, jwt: { publicKey: rsa } }, false).jwt?.algorithms, ['RS256'])
  assert.throws(() => resolveConfig({ ...base, jwt: { publicKey: rsa, algorithms: ['HS256'] } }, false), refused(/HS256 does not fit the public key/))
  assert.throws(() => resolveConfig({ ...base, jwt: { publicKey: 'not a key' } }, false), refused(/not a PEM public key/))
  assert.throws(() => resolveConfig({ ...base, jwt: { secret, publicKey: rsa } }, false), refused(/not both/))
})

test('verified tokens are kept only for public keys, where a signature check costs more than the cache\'s hashing', () => {
  const base = { apiKeys: [key], env: {} }
  assert.equal(resolveConfig({ ...base, jwt: { secret } }, false).jwt?.cacheVerified, false)
  const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }).toString()
  assert.equal(resolveConfig({ ...base, jwt: { publicKey: ec } }, false).jwt?.cacheVerified, true)
})

test('development mode generates what is missing, says so, and is refused in production', () => {
  const dev = resolveConfig({ env: { PUSHER_DEV: 'true' } }, false)
  assert.equal(dev.dev, true)
  assert.ok(dev.generated.jwtSecret && dev.generated.jwtSecret.length >= 32)
  assert.ok(dev.generated.apiKey && dev.apiKeys.includes(dev.generated.apiKey))
  // Durable sends work in a try-out: kept in memory unless PUSHER_DB names a file.
  assert.equal(dev.store?.path, ':memory:')
  assert.equal(resolveConfig({ env: { PUSHER_DEV: 'true', PUSHER_DB: '/tmp/x.db' } }, false).store?.path, '/tmp/x.db')
  assert.equal(resolveConfig({ env: { JWT_SECRET: secret, PUSHER_API_KEY: 'k'.repeat(32) } }, false).store, undefined)
  // What is set stays as set.
  assert.equal(resolveConfig({ env: { PUSHER_DEV: 'true', JWT_SECRET: secret } }, false).jwt?.key, secret)
  assert.throws(() => resolveConfig({ env: { PUSHER_DEV: 'true', NODE_ENV: 'production' } }, false), refused(/refused when NODE_ENV=production/))
})

test('a short secret or key is accepted (go-pusher used "secret") but warned about', () => {
  const config = resolveConfig({ jwt: { secret: 'secret' }, apiKeys: ['short'], env: {} }, false)
  assert.equal(config.warnings.length, 2)
})

test('the abuse limits hold with no configuration, and each is set by its variable or option', () => {
  const base = { jwt: { secret }, apiKeys: [key] }
  const defaults = resolveConfig({ ...base, env: {} }, false)
  assert.equal(defaults.headersTimeoutMs, 10_000)
  assert.equal(defaults.bodyTimeoutMs, 10_000)
  assert.equal(defaults.maxConnectionsPerUser, 100)
  assert.equal(defaults.maxAuthFailuresPerMinute, 100)
  assert.equal(defaults.sendRateLimit, 0)
  assert.equal(defaults.allowedOrigins, undefined)
  // Derived from this process's descriptor limit, with headroom for senders, Redis and SQLite.
  const limit = descriptorLimit()!
  assert.equal(defaults.maxConnections, limit - Math.max(128, Math.floor(limit / 10)))
  assert.ok(defaults.maxConnections < limit)

  const fromEnv = resolveConfig({ ...base, env: {
    PUSHER_MAX_CONNECTIONS: '5000', PUSHER_MAX_CONNECTIONS_PER_USER: '3', PUSHER_HEADERS_TIMEOUT_MS: '2000',
    PUSHER_MAX_INBOUND_FRAMES_PER_S: '0', PUSHER_ALLOWED_ORIGINS: 'https://a.example, https://b.example:8443',
  } }, false)
  assert.equal(fromEnv.maxConnections, 5000)
  assert.equal(fromEnv.maxConnectionsPerUser, 3)
  assert.equal(fromEnv.headersTimeoutMs, 2000)
  assert.equal(fromEnv.maxInboundFramesPerSecond, 0)
  assert.deepEqual([...fromEnv.allowedOrigins!], ['https://a.example', 'https://b.example:8443'])
  assert.equal(resolveConfig({ ...base, maxConnectionsPerUser: 7, env: { PUSHER_MAX_CONNECTIONS_PER_USER: '3' } }, false).maxConnectionsPerUser, 7)
})

test('an allowed origin must be an exact origin; a custom authenticator without an allowlist is warned about', () => {
  const base = { jwt: { secret }, apiKeys: [key], env: {} }
  assert.throws(() => resolveConfig({ ...base, allowedOrigins: 'https://app.example.com/' }, false), refused(/not an exact origin/))
  assert.throws(() => resolveConfig({ ...base, allowedOrigins: ['app.example.com'] }, false), refused(/not an exact origin/))
  const custom = resolveConfig({ apiKeys: [key], env: {} }, true)
  assert.ok(custom.warnings.some((warning) => /cross-site WebSocket hijacking/.test(warning)))
  const listed = resolveConfig({ apiKeys: [key], allowedOrigins: 'https://app.example.com', env: {} }, true)
  assert.equal(listed.warnings.length, 0)
})

test('Swagger UI is off unless PUSHER_SWAGGER_UI or the swaggerUi option turns it on; the option wins', () => {
  const base = { jwt: { secret }, apiKeys: [key] }
  assert.equal(resolveConfig({ ...base, env: {} }, false).swaggerUi, false)
  assert.equal(resolveConfig({ ...base, env: { PUSHER_SWAGGER_UI: 'true' } }, false).swaggerUi, true)
  assert.equal(resolveConfig({ ...base, swaggerUi: false, env: { PUSHER_SWAGGER_UI: 'true' } }, false).swaggerUi, false)
  assert.throws(() => resolveConfig({ ...base, env: { PUSHER_SWAGGER_UI: 'sometimes' } }, false), refused(/PUSHER_SWAGGER_UI/))
})
