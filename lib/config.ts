// Turns plugin options and environment variables into one checked configuration.
// Explicit options win; each missing option falls back to its environment variable
// (the README's table); what is still missing takes the default below. Every problem
// is reported at registration with the option and the variable to set.
import { createPublicKey, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'
import { Compile } from 'typebox/compile'
import { PusherError } from './errors.js'

export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number]

export interface JwtOptions {
  /** Shared secret for HS256/384/512 (`JWT_SECRET`). */
  secret?: string
  /** PEM public key for RS*, PS*, ES* or EdDSA (`JWT_PUBLIC_KEY`: PEM text or a file path). */
  publicKey?: string | Buffer
  /** Accepted algorithms (`JWT_ALGORITHMS`); defaults to HS256, or to what the public key implies. */
  algorithms?: JwtAlgorithm[]
  /** Required `iss` claim (`JWT_ISSUER`). */
  issuer?: string
  /** Required `aud` claim (`JWT_AUDIENCE`). */
  audience?: string
}

export interface PusherConfigInput {
  jwt?: JwtOptions
  /** Sender API keys (`PUSHER_API_KEY`, comma-separated). */
  apiKeys?: string | string[]
  /** Development mode (`PUSHER_DEV`): generate missing secrets and print them. Refused when NODE_ENV=production. */
  dev?: boolean
  heartbeat?: { intervalMs?: number; timeoutMs?: number } | false
  maxBufferedBytes?: number
  maxMessageBytes?: number
  maxInboundBytes?: number
  maxUidLength?: number
  maxBatchSize?: number
  /** Largest /send/batch body accepted, in bytes. */
  maxBatchBytes?: number
  shutdownTimeoutMs?: number
  /** `false` to serve no metrics route; `endpoint` to move it (relative to the prefix). */
  metrics?: false | { endpoint?: string; defaultMetrics?: boolean }
  /** Where fallbacks are read from; defaults to `process.env`. Pass `{}` to ignore the environment. */
  env?: Record<string, string | undefined>
}

const Limits = Type.Object({
  maxBufferedBytes: Type.Integer({ minimum: 1024 }),
  maxMessageBytes: Type.Integer({ minimum: 1, maximum: 100 * 1024 * 1024 }),
  maxInboundBytes: Type.Integer({ minimum: 16 }),
  maxUidLength: Type.Integer({ minimum: 1, maximum: 4096 }),
  maxBatchSize: Type.Integer({ minimum: 1, maximum: 100_000 }),
  maxBatchBytes: Type.Integer({ minimum: 1024 }),
  shutdownTimeoutMs: Type.Integer({ minimum: 0 }),
  heartbeatIntervalMs: Type.Integer({ minimum: 0 }),
  heartbeatTimeoutMs: Type.Integer({ minimum: 1 }),
})
type Limits = Static<typeof Limits>
const checkLimits = Compile(Limits)

export const DEFAULT_LIMITS: Limits = {
  maxBufferedBytes: 1024 * 1024,
  maxMessageBytes: 64 * 1024,
  maxInboundBytes: 4096,
  maxUidLength: 256,
  maxBatchSize: 1000,
  maxBatchBytes: 4 * 1024 * 1024,
  shutdownTimeoutMs: 5000,
  heartbeatIntervalMs: 25_000,
  heartbeatTimeoutMs: 10_000,
}

// The environment, typed and coerced by env-schema; every variable is optional here
// because whether it is needed depends on the options next to it.
const EnvSchema = Type.Object({
  JWT_SECRET: Type.Optional(Type.String()),
  JWT_PUBLIC_KEY: Type.Optional(Type.String()),
  JWT_ALGORITHMS: Type.Optional(Type.String()),
  JWT_ISSUER: Type.Optional(Type.String()),
  JWT_AUDIENCE: Type.Optional(Type.String()),
  PUSHER_API_KEY: Type.Optional(Type.String()),
  PUSHER_DEV: Type.Optional(Type.Boolean()),
  PUSHER_HEARTBEAT_INTERVAL_MS: Type.Optional(Type.Integer()),
  PUSHER_HEARTBEAT_TIMEOUT_MS: Type.Optional(Type.Integer()),
  PUSHER_MAX_BUFFERED_BYTES: Type.Optional(Type.Integer()),
  PUSHER_MAX_MESSAGE_BYTES: Type.Optional(Type.Integer()),
  PUSHER_MAX_INBOUND_BYTES: Type.Optional(Type.Integer()),
  PUSHER_MAX_UID_LENGTH: Type.Optional(Type.Integer()),
  PUSHER_MAX_BATCH_SIZE: Type.Optional(Type.Integer()),
  PUSHER_MAX_BATCH_BYTES: Type.Optional(Type.Integer()),
  PUSHER_SHUTDOWN_TIMEOUT_MS: Type.Optional(Type.Integer()),
  PUSHER_METRICS: Type.Optional(Type.Boolean()),
  NODE_ENV: Type.Optional(Type.String()),
})
type Env = Static<typeof EnvSchema>

export interface ResolvedJwt {
  /** The key @fastify/jwt verifies with: the secret, or the public key. */
  key: string | Buffer
  algorithms: JwtAlgorithm[]
  issuer?: string
  audience?: string
}

export interface PusherConfig extends Limits {
  /** Undefined when a custom authenticator replaces JWT. */
  jwt: ResolvedJwt | undefined
  apiKeys: string[]
  dev: boolean
  metrics: false | { endpoint: string; defaultMetrics: boolean }
  /** Secrets development mode made up, to be printed loudly. */
  generated: { jwtSecret?: string; apiKey?: string }
  /** Not fatal, but worth a log line at start. */
  warnings: string[]
}

const fail = (message: string): never => {
  throw new PusherError.CONFIG(message)
}

export function resolveConfig(input: PusherConfigInput, customAuthenticator: boolean): PusherConfig {
  let env: Env
  try {
    env = envSchema<Env>({ schema: EnvSchema, data: input.env ?? process.env, env: false, dotenv: false })
  } catch (error) {
    return fail(`invalid environment: ${(error as Error).message}`)
  }
  const dev = input.dev ?? env.PUSHER_DEV ?? false
  if (dev && env.NODE_ENV === 'production') {
    fail('development mode (PUSHER_DEV) generates throwaway secrets and is refused when NODE_ENV=production')
  }
  const warnings: string[] = []
  const generated: PusherConfig['generated'] = {}

  let jwt: ResolvedJwt | undefined
  if (!customAuthenticator) {
    jwt = resolveJwt(input.jwt ?? {}, env, warnings)
    if (jwt === undefined) {
      if (!dev) {
        fail('no JWT key: set JWT_SECRET (or the jwt.secret option), JWT_PUBLIC_KEY (jwt.publicKey), ' +
          'or give an authenticator; for a local try-out set PUSHER_DEV=true')
      }
      generated.jwtSecret = randomBytes(32).toString('base64url')
      jwt = { key: generated.jwtSecret, algorithms: ['HS256'] }
    }
  }

  const apiKeys = splitList(input.apiKeys ?? env.PUSHER_API_KEY)
  if (apiKeys.length === 0) {
    if (!dev) fail('no sender API key: set PUSHER_API_KEY (comma-separated) or the apiKeys option; for a local try-out set PUSHER_DEV=true')
    generated.apiKey = randomBytes(24).toString('base64url')
    apiKeys.push(generated.apiKey)
  }
  if (apiKeys.some((key) => key.length < 16)) warnings.push('an API key is shorter than 16 characters; use long random keys')

  const heartbeat = input.heartbeat === false ? { intervalMs: 0 } : input.heartbeat ?? {}
  const limits: Limits = {
    maxBufferedBytes: input.maxBufferedBytes ?? env.PUSHER_MAX_BUFFERED_BYTES ?? DEFAULT_LIMITS.maxBufferedBytes,
    maxMessageBytes: input.maxMessageBytes ?? env.PUSHER_MAX_MESSAGE_BYTES ?? DEFAULT_LIMITS.maxMessageBytes,
    maxInboundBytes: input.maxInboundBytes ?? env.PUSHER_MAX_INBOUND_BYTES ?? DEFAULT_LIMITS.maxInboundBytes,
    maxUidLength: input.maxUidLength ?? env.PUSHER_MAX_UID_LENGTH ?? DEFAULT_LIMITS.maxUidLength,
    maxBatchSize: input.maxBatchSize ?? env.PUSHER_MAX_BATCH_SIZE ?? DEFAULT_LIMITS.maxBatchSize,
    maxBatchBytes: input.maxBatchBytes ?? env.PUSHER_MAX_BATCH_BYTES ?? DEFAULT_LIMITS.maxBatchBytes,
    shutdownTimeoutMs: input.shutdownTimeoutMs ?? env.PUSHER_SHUTDOWN_TIMEOUT_MS ?? DEFAULT_LIMITS.shutdownTimeoutMs,
    heartbeatIntervalMs: heartbeat.intervalMs ?? env.PUSHER_HEARTBEAT_INTERVAL_MS ?? DEFAULT_LIMITS.heartbeatIntervalMs,
    heartbeatTimeoutMs: ('timeoutMs' in heartbeat ? heartbeat.timeoutMs : undefined) ??
      env.PUSHER_HEARTBEAT_TIMEOUT_MS ?? DEFAULT_LIMITS.heartbeatTimeoutMs,
  }
  const [error] = checkLimits.Errors(limits)
  if (error !== undefined) fail(`option ${error.instancePath.slice(1)} ${error.message}`)
  if (limits.heartbeatIntervalMs > 0 && limits.heartbeatTimeoutMs >= limits.heartbeatIntervalMs) {
    fail('heartbeat timeoutMs must be shorter than intervalMs (PUSHER_HEARTBEAT_TIMEOUT_MS < PUSHER_HEARTBEAT_INTERVAL_MS)')
  }

  const metricsOn = input.metrics !== false && env.PUSHER_METRICS !== false
  const metricsInput = typeof input.metrics === 'object' ? input.metrics : {}
  const metrics = metricsOn
    ? { endpoint: metricsInput.endpoint ?? '/metrics', defaultMetrics: metricsInput.defaultMetrics ?? true }
    : false

  return { ...limits, jwt, apiKeys, dev, metrics, generated, warnings }
}

function resolveJwt(options: JwtOptions, env: Env, warnings: string[]): ResolvedJwt | undefined {
  const secret = options.secret ?? env.JWT_SECRET
  const publicKey = options.publicKey ?? readPem(env.JWT_PUBLIC_KEY)
  const algorithms = options.algorithms ?? (splitList(env.JWT_ALGORITHMS) as JwtAlgorithm[])
  const claims = { issuer: options.issuer ?? env.JWT_ISSUER, audience: options.audience ?? env.JWT_AUDIENCE }
  for (const algorithm of algorithms) {
    if (!JWT_ALGORITHMS.includes(algorithm)) fail(`JWT algorithm "${algorithm}" is not supported; use one of ${JWT_ALGORITHMS.join(', ')}`)
  }
  if (secret !== undefined && publicKey !== undefined) fail('set either a JWT secret or a JWT public key, not both')

  if (secret !== undefined) {
    if (secret.length === 0) fail('JWT_SECRET is empty')
    if (secret.length < 32) warnings.push('JWT secret is shorter than 32 characters; HS256 wants at least 32 random bytes')
    const pinned = algorithms.length > 0 ? algorithms : ['HS256' as const]
    // A shared secret must never verify an asymmetric algorithm: that is the RS/HS confusion attack.
    if (pinned.some((a) => !a.startsWith('HS'))) fail('a JWT secret can only verify HS256/HS384/HS512; use a public key for other algorithms')
    return { key: secret, algorithms: pinned, ...claims }
  }
  if (publicKey !== undefined) {
    const implied = algorithmsForKey(publicKey)
    const pinned = algorithms.length > 0 ? algorithms : implied.slice(0, 1)
    const wrong = pinned.find((a) => !implied.includes(a))
    if (wrong !== undefined) fail(`JWT algorithm ${wrong} does not fit the public key (it allows ${implied.join(', ')})`)
    return { key: publicKey, algorithms: pinned, ...claims }
  }
  return undefined
}

/** The algorithms a public key can verify, the usual one first. */
function algorithmsForKey(pem: string | Buffer): JwtAlgorithm[] {
  let key
  try {
    key = createPublicKey(pem)
  } catch (error) {
    return fail(`JWT public key is not a PEM public key: ${(error as Error).message}`)
  }
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
    case 'rsa-pss': return ['PS256', 'PS384', 'PS512']
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      if (curve === 'prime256v1') return ['ES256']
      if (curve === 'secp384r1') return ['ES384']
      if (curve === 'secp521r1') return ['ES512']
      return fail(`JWT public key uses curve ${curve}, which JWT does not define`)
    }
    case 'ed25519': return ['EdDSA']
    default: return fail(`JWT public key type ${key.asymmetricKeyType} is not supported`)
  }
}

/** JWT_PUBLIC_KEY holds PEM text (newlines may be written as \n) or the path of a PEM file. */
function readPem(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined
  if (value.includes('-----BEGIN')) return value.replace(/\\n/g, '\n')
  try {
    return readFileSync(value, 'utf8')
  } catch (error) {
    return fail(`JWT_PUBLIC_KEY is neither PEM text nor a readable file: ${(error as Error).message}`)
  }
}

function splitList(value: string | string[] | undefined): string[] {
  const items = Array.isArray(value) ? value : (value ?? '').split(',')
  return items.map((item) => item.trim()).filter((item) => item.length > 0)
}
