// Webhook configuration: off without a URL; with one, a secret is required and every
// mistake is one line that names the option and the variable to set.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import Fastify from 'fastify'
import pusher from '../../app.js'
import { DEFAULT_WEBHOOKS, resolveConfig } from '../../lib/config/config.js'

const base = { jwt: { secret: 'x'.repeat(32) }, apiKeys: ['k'.repeat(20)] }
const secret = 'w'.repeat(32)
const refused = (pattern: RegExp) => (error: unknown) => {
  assert.equal((error as { code: string }).code, 'PUSHER_ERR_CONFIG')
  assert.match((error as Error).message, pattern)
  assert.doesNotMatch((error as Error).message, /\n/, 'one line')
  return true
}

test('without a URL there are no webhooks, and no secret is asked for', () => {
  assert.equal(resolveConfig({ ...base, env: {} }, false).webhooks, undefined)
  assert.equal(resolveConfig({ ...base, env: { PUSHER_WEBHOOK_SECRET: secret } }, false).webhooks, undefined)
  assert.equal(resolveConfig({ ...base, webhooks: false, env: { PUSHER_WEBHOOK_URL: 'https://b.example/h', PUSHER_WEBHOOK_SECRET: secret } }, false).webhooks, undefined)
})

test('a URL without a secret is refused at registration, naming PUSHER_WEBHOOK_SECRET', async () => {
  await assert.rejects(async () => {
    await Fastify().register(pusher, { ...base, env: { PUSHER_WEBHOOK_URL: 'https://backend.example/hooks' } }).ready()
  }, refused(/PUSHER_WEBHOOK_SECRET/))
  assert.throws(() => resolveConfig({ ...base, webhooks: { url: 'https://backend.example/hooks', secret: '' }, env: {} }, false), refused(/no secret/))
})

test('the environment configures webhooks as the options do, with the documented defaults', () => {
  const config = resolveConfig({ ...base, env: { PUSHER_WEBHOOK_URL: 'https://backend.example/hooks', PUSHER_WEBHOOK_SECRET: secret } }, false).webhooks!
  assert.deepEqual(config, {
    url: 'https://backend.example/hooks', secret,
    // message.unacked is off until PUSHER_WEBHOOK_UNACKED_AFTER_S is set.
    events: ['user.online', 'user.offline', 'message.expired'],
    offlineDelayMs: DEFAULT_WEBHOOKS.offlineDelayMs, unackedAfterMs: 0, timeoutMs: 10_000, concurrency: 8, maxQueue: 10_000,
    maxAttempts: 10, maxAgeMs: 900_000, retryDelayMs: 1000,
  })
  const tuned = resolveConfig({
    ...base,
    env: {
      PUSHER_WEBHOOK_URL: 'http://127.0.0.1:9000/h', PUSHER_WEBHOOK_SECRET: secret, PUSHER_WEBHOOK_EVENTS: 'user.offline, message.unacked',
      PUSHER_WEBHOOK_UNACKED_AFTER_S: '120', PUSHER_WEBHOOK_OFFLINE_DELAY_MS: '0', PUSHER_WEBHOOK_MAX_QUEUE: '50',
    },
    webhooks: { maxAttempts: 3 },
  }, false).webhooks!
  assert.deepEqual(tuned.events, ['user.offline', 'message.unacked'])
  assert.deepEqual([tuned.unackedAfterMs, tuned.offlineDelayMs, tuned.maxQueue, tuned.maxAttempts], [120_000, 0, 50, 3])
})

test('mistakes are refused with the option and the variable named', () => {
  const webhooks = (extra: object) => resolveConfig({ ...base, webhooks: { url: 'https://backend.example/hooks', secret, ...extra }, env: {} }, false)
  assert.throws(() => webhooks({ url: 'backend.example/hooks' }), refused(/PUSHER_WEBHOOK_URL\) is not a URL/))
  assert.throws(() => webhooks({ url: 'ftp://backend.example/hooks' }), refused(/http:\/\/ or https:\/\//))
  assert.throws(() => webhooks({ url: 'https://user:pw@backend.example/hooks' }), refused(/must not hold a user or password/))
  assert.throws(() => webhooks({ events: 'user.online,user.typing' }), refused(/unknown event "user\.typing".*user\.online, user\.offline/))
  assert.throws(() => webhooks({ events: ['message.unacked'] }), refused(/PUSHER_WEBHOOK_UNACKED_AFTER_S/))
  assert.throws(() => webhooks({ maxQueue: 0 }), refused(/webhooks\.maxQueue \(PUSHER_WEBHOOK_MAX_QUEUE\) must be a whole number from 1/))
  assert.throws(() => webhooks({ timeoutMs: 1.5 }), refused(/PUSHER_WEBHOOK_TIMEOUT_MS/))
  assert.throws(() => resolveConfig({ ...base, env: { PUSHER_WEBHOOK_URL: 'https://b.example/h', PUSHER_WEBHOOK_SECRET: secret, PUSHER_WEBHOOK_CONCURRENCY: 'many' } }, false),
    refused(/PUSHER_WEBHOOK_CONCURRENCY/))
})

test('a short secret, plain http to another host, and message events without a store are warned about', () => {
  const config = resolveConfig({ ...base, webhooks: { url: 'http://backend.example/hooks', secret: 'short', events: 'message.expired' }, env: {} }, false)
  assert.ok(config.warnings.some((w) => /shorter than 32 characters/.test(w)))
  assert.ok(config.warnings.some((w) => /plain http to backend\.example/.test(w)))
  assert.ok(config.warnings.some((w) => /need durable delivery/.test(w)))
  const local = resolveConfig({ ...base, webhooks: { url: 'http://localhost:8080/hooks', secret }, env: {} }, false)
  assert.deepEqual(local.warnings, [])
})
