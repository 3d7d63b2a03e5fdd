// Turns plugin options and environment variables into one checked configuration.
// Explicit options win; each missing option falls back to its environment variable
// (docs/configuration.md); what is still missing takes the default below. Every problem
// is reported at registration with the option and the variable to set.
import { randomBytes } from 'node:crypto'
import type { RedisOptions } from 'ioredis'
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'
import { type JwtOptions, type ResolvedJwt, resolveJwt } from './jwt.js'
import { fail, splitList } from './util.js'
import { type ClusterConfig, resolveCluster, resolveStore, type StoreConfig } from './engines.js'
import { resolveOrigins } from './access.js'
import { resolveWebhooks, type WebhooksConfig, type WebhooksInput } from './webhooks.js'
import { defaultMaxConnections, descriptorLimit } from '../limits/descriptors.js'
import { compileCheck } from '../schema-check.js'
import { DEFAULT_MAX_TOPIC_LENGTH, MAX_TOPIC_LENGTH } from '../topics/name.js'

export type { JwtAlgorithm, JwtOptions, ResolvedJwt } from './jwt.js'
export { JWT_ALGORITHMS } from './jwt.js'
export { type ClusterConfig, IN_MEMORY, type StoreConfig } from './engines.js'
export { resolveTrustProxy } from './access.js'
export { DEFAULT_WEBHOOKS, type WebhooksConfig, type WebhooksInput } from './webhooks.js'

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
  /** A connection must send its complete request head within this time (`PUSHER_HEADERS_TIMEOUT_MS`, 10000). */
  headersTimeoutMs?: number
  /** A request's body must arrive within this time of its head (`PUSHER_BODY_TIMEOUT_MS`, 10000). */
  bodyTimeoutMs?: number
  /** Idle keep-alive connections of senders are closed after this time (`PUSHER_KEEPALIVE_TIMEOUT_MS`, 72000). */
  keepAliveTimeoutMs?: number
  /** WebSocket connections this node accepts (`PUSHER_MAX_CONNECTIONS`; default: the descriptor limit less a tenth, at least 128). */
  maxConnections?: number
  /** WebSocket connections one user may hold on this node (`PUSHER_MAX_CONNECTIONS_PER_USER`, 100). */
  maxConnectionsPerUser?: number
  /** Connections one address may hold before sending a request (`PUSHER_MAX_IDLE_PER_ADDRESS`, 64; 0: no cap). */
  maxIdleConnectionsPerAddress?: number
  /** Frames a client may send per second, on average, with bursts of ten times as many (`PUSHER_MAX_INBOUND_FRAMES_PER_S`, 50; 0: no limit). */
  maxInboundFramesPerSecond?: number
  /** Authentication failures per minute after which an address gets 429 (`PUSHER_MAX_AUTH_FAILURES_PER_MIN`, 100; 0: no throttle). */
  maxAuthFailuresPerMinute?: number
  /** Sends per second one API key may make (`PUSHER_SEND_RATE_LIMIT`; default 0: no limit). */
  sendRateLimit?: number
  /** How long a revocation is kept after its cut, in seconds (`PUSHER_REVOCATION_TTL_S`, default 86400): at least your tokens' lifetime. */
  revocationTtlSeconds?: number
  /** Topics one connection may watch (`PUSHER_MAX_TOPICS_PER_CONNECTION`, 100). */
  maxTopicsPerConnection?: number
  /** Longest topic name (`PUSHER_MAX_TOPIC_LENGTH`, 200; at most 1024). */
  maxTopicLength?: number
  /** Subscribe requests a framed client may send per second, in bursts of up to 100 (`PUSHER_MAX_SUBSCRIBES_PER_S`, 10; 0: no limit). */
  maxSubscribesPerSecond?: number
  /** Origins allowed to open WebSockets (`PUSHER_ALLOWED_ORIGINS`, comma-separated); unset: any. */
  allowedOrigins?: string | string[]
  /** `false` to serve no metrics route; `endpoint` to move it (relative to the prefix). */
  metrics?: false | { endpoint?: string; defaultMetrics?: boolean }
  /** Serve Swagger UI for the OpenAPI document at /docs (`PUSHER_SWAGGER_UI`, false). Needs the package @fastify/swagger-ui. */
  swaggerUi?: boolean
  /** Cluster mode: a redis:// URL or ioredis options (Sentinel included) (`REDIS_URL`). Absent: one process. */
  redis?: string | RedisOptions
  /**
   * Durable delivery: where messages sent with a ttl are kept. SQLite at `path`
   * (`PUSHER_DB`); in cluster mode Redis. Absent (and no REDIS_URL): sends with a ttl are refused.
   */
  store?: { path?: string; defaultTtlSeconds?: number; maxPerUser?: number; keepClosedSeconds?: number; topicHistorySize?: number } | false
  cluster?: {
    /** Prefix of every Redis key and channel (`PUSHER_REDIS_PREFIX`, default "pusher:"). */
    prefix?: string
    /** This node's name in the cluster (`PUSHER_NODE_ID`, default host-pid-random). */
    nodeId?: string
    /** How long a node that stopped renewing stays in presence (`PUSHER_LEASE_TTL_MS`, default 5000). */
    leaseTtlMs?: number
  }
  /** Webhooks to the backend (`PUSHER_WEBHOOK_URL` and `PUSHER_WEBHOOK_SECRET`, docs/webhooks.md); `false`: off whatever the environment says. */
  webhooks?: WebhooksInput | false
  /** Where fallbacks are read from; defaults to `process.env`. Pass `{}` to ignore the environment. */
  env?: Record<string, string | undefined>
}

/**
 * Every numeric limit, resolved. Written out rather than derived from the schema below,
 * so that the shipped declarations do not pull typebox's type engine into every host
 * app's type-check (it was most of a `tsc --strict` run there).
 */
export interface Limits {
  maxBufferedBytes: number
  maxMessageBytes: number
  maxInboundBytes: number
  maxUidLength: number
  maxBatchSize: number
  maxBatchBytes: number
  shutdownTimeoutMs: number
  heartbeatIntervalMs: number
  heartbeatTimeoutMs: number
  headersTimeoutMs: number
  bodyTimeoutMs: number
  keepAliveTimeoutMs: number
  maxConnections: number
  maxConnectionsPerUser: number
  maxIdleConnectionsPerAddress: number
  maxInboundFramesPerSecond: number
  maxAuthFailuresPerMinute: number
  sendRateLimit: number
  revocationTtlSeconds: number
  maxTopicsPerConnection: number
  maxTopicLength: number
  maxSubscribesPerSecond: number
}

const LimitsSchema = Type.Object({
  maxBufferedBytes: Type.Integer({ minimum: 1024 }),
  maxMessageBytes: Type.Integer({ minimum: 1, maximum: 100 * 1024 * 1024 }),
  maxInboundBytes: Type.Integer({ minimum: 16 }),
  maxUidLength: Type.Integer({ minimum: 1, maximum: 4096 }),
  maxBatchSize: Type.Integer({ minimum: 1, maximum: 100_000 }),
  maxBatchBytes: Type.Integer({ minimum: 1024 }),
  shutdownTimeoutMs: Type.Integer({ minimum: 0 }),
  heartbeatIntervalMs: Type.Integer({ minimum: 0 }),
  heartbeatTimeoutMs: Type.Integer({ minimum: 1 }),
  headersTimeoutMs: Type.Integer({ minimum: 100 }),
  bodyTimeoutMs: Type.Integer({ minimum: 100 }),
  keepAliveTimeoutMs: Type.Integer({ minimum: 1000 }),
  maxConnections: Type.Integer({ minimum: 1 }),
  maxConnectionsPerUser: Type.Integer({ minimum: 1 }),
  maxIdleConnectionsPerAddress: Type.Integer({ minimum: 0 }),
  maxInboundFramesPerSecond: Type.Integer({ minimum: 0 }),
  maxAuthFailuresPerMinute: Type.Integer({ minimum: 0 }),
  sendRateLimit: Type.Integer({ minimum: 0 }),
  revocationTtlSeconds: Type.Integer({ minimum: 1, maximum: 31_536_000 }),
  maxTopicsPerConnection: Type.Integer({ minimum: 1, maximum: 100_000 }),
  maxTopicLength: Type.Integer({ minimum: 1, maximum: MAX_TOPIC_LENGTH }),
  maxSubscribesPerSecond: Type.Integer({ minimum: 0 }),
})
// The interface and the schema name the same limits, both ways.
const sameLimits: [Static<typeof LimitsSchema>, Limits] = [] as unknown as [Limits, Static<typeof LimitsSchema>]
void sameLimits
const checkLimits = compileCheck(LimitsSchema)

export const DEFAULT_LIMITS: Omit<Limits, 'maxConnections'> = {
  maxBufferedBytes: 1024 * 1024,
  maxMessageBytes: 64 * 1024,
  maxInboundBytes: 4096,
  maxUidLength: 256,
  maxBatchSize: 1000,
  maxBatchBytes: 4 * 1024 * 1024,
  shutdownTimeoutMs: 5000,
  heartbeatIntervalMs: 25_000,
  heartbeatTimeoutMs: 10_000,
  headersTimeoutMs: 10_000,
  bodyTimeoutMs: 10_000,
  // Fastify's own default: longer than the usual 60 s idle timeout of load balancers, so
  // that the balancer, not the hub, closes an idle upstream connection.
  keepAliveTimeoutMs: 72_000,
  maxConnectionsPerUser: 100,
  maxIdleConnectionsPerAddress: 64,
  // A framed client acks at most every 50 ms (20 a second): 50 leaves room for that and pings.
  maxInboundFramesPerSecond: 50,
  maxAuthFailuresPerMinute: 100,
  sendRateLimit: 0,
  // As long as a token issued before a revocation may still be valid: a day covers the
  // usual connection token; longer-lived tokens need a longer setting.
  revocationTtlSeconds: 86_400,
  maxTopicsPerConnection: 100,
  maxTopicLength: DEFAULT_MAX_TOPIC_LENGTH,
  maxSubscribesPerSecond: 10,
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
  PUSHER_HEADERS_TIMEOUT_MS: Type.Optional(Type.Integer()),
  PUSHER_BODY_TIMEOUT_MS: Type.Optional(Type.Integer()),
  PUSHER_KEEPALIVE_TIMEOUT_MS: Type.Optional(Type.Integer()),
  PUSHER_MAX_CONNECTIONS: Type.Optional(Type.Integer()),
  PUSHER_MAX_CONNECTIONS_PER_USER: Type.Optional(Type.Integer()),
  PUSHER_MAX_IDLE_PER_ADDRESS: Type.Optional(Type.Integer()),
  PUSHER_MAX_INBOUND_FRAMES_PER_S: Type.Optional(Type.Integer()),
  PUSHER_MAX_AUTH_FAILURES_PER_MIN: Type.Optional(Type.Integer()),
  PUSHER_SEND_RATE_LIMIT: Type.Optional(Type.Integer()),
  PUSHER_REVOCATION_TTL_S: Type.Optional(Type.Integer()),
  PUSHER_MAX_TOPICS_PER_CONNECTION: Type.Optional(Type.Integer()),
  PUSHER_MAX_TOPIC_LENGTH: Type.Optional(Type.Integer()),
  PUSHER_MAX_SUBSCRIBES_PER_S: Type.Optional(Type.Integer()),
  PUSHER_ALLOWED_ORIGINS: Type.Optional(Type.String()),
  PUSHER_METRICS: Type.Optional(Type.Boolean()),
  PUSHER_SWAGGER_UI: Type.Optional(Type.Boolean()),
  REDIS_URL: Type.Optional(Type.String()),
  REDIS_SENTINELS: Type.Optional(Type.String()),
  REDIS_SENTINEL_NAME: Type.Optional(Type.String()),
  PUSHER_REDIS_PREFIX: Type.Optional(Type.String()),
  PUSHER_NODE_ID: Type.Optional(Type.String()),
  PUSHER_LEASE_TTL_MS: Type.Optional(Type.Integer()),
  PUSHER_DB: Type.Optional(Type.String()),
  PUSHER_DEFAULT_TTL_S: Type.Optional(Type.Integer()),
  PUSHER_MAX_QUEUED_PER_USER: Type.Optional(Type.Integer()),
  PUSHER_TOPIC_HISTORY_SIZE: Type.Optional(Type.Integer()),
  // Webhooks (webhooks.ts)
  PUSHER_WEBHOOK_URL: Type.Optional(Type.String()),
  PUSHER_WEBHOOK_SECRET: Type.Optional(Type.String()),
  PUSHER_WEBHOOK_EVENTS: Type.Optional(Type.String()),
  PUSHER_WEBHOOK_OFFLINE_DELAY_MS: Type.Optional(Type.Integer()),
  PUSHER_WEBHOOK_UNACKED_AFTER_S: Type.Optional(Type.Integer()),
  PUSHER_WEBHOOK_TIMEOUT_MS: Type.Optional(Type.Integer()),
  PUSHER_WEBHOOK_CONCURRENCY: Type.Optional(Type.Integer()),
  PUSHER_WEBHOOK_MAX_QUEUE: Type.Optional(Type.Integer()),
  PUSHER_WEBHOOK_MAX_ATTEMPTS: Type.Optional(Type.Integer()),
  PUSHER_WEBHOOK_MAX_AGE_S: Type.Optional(Type.Integer()),
  PUSHER_WEBHOOK_RETRY_DELAY_MS: Type.Optional(Type.Integer()),
  NODE_ENV: Type.Optional(Type.String()),
})
type Env = Static<typeof EnvSchema>

export interface PusherConfig extends Limits {
  /** Undefined when a custom authenticator replaces JWT. */
  jwt: ResolvedJwt | undefined
  apiKeys: string[]
  dev: boolean
  metrics: false | { endpoint: string; defaultMetrics: boolean }
  /** Swagger UI at /docs. */
  swaggerUi: boolean
  /** Exact origins allowed to open WebSockets; undefined: any (and requests without Origin always). */
  allowedOrigins: Set<string> | undefined
  /** Undefined: no durable delivery. `path` undefined with a cluster: the Redis store. */
  store: StoreConfig | undefined
  /** Undefined: a single process, no Redis. */
  cluster: ClusterConfig | undefined
  /** Undefined: no webhooks (no PUSHER_WEBHOOK_URL). */
  webhooks: WebhooksConfig | undefined
  /** Secrets development mode made up, to be printed loudly. */
  generated: { jwtSecret?: string; apiKey?: string }
  /** Not fatal, but worth a log line at start. */
  warnings: string[]
  /** The process's descriptor limit (ulimit -n), read once; undefined where it cannot be read. */
  descriptorLimit: number | undefined
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
      jwt = { key: generated.jwtSecret, algorithms: ['HS256'], cacheVerified: false }
    }
  }

  const apiKeys = splitList(input.apiKeys ?? env.PUSHER_API_KEY)
  if (apiKeys.length === 0) {
    if (!dev) fail('no sender API key: set PUSHER_API_KEY (comma-separated) or the apiKeys option; for a local try-out set PUSHER_DEV=true')
    generated.apiKey = randomBytes(24).toString('base64url')
    apiKeys.push(generated.apiKey)
  }
  if (apiKeys.some((key) => key.length < 16)) warnings.push('an API key is shorter than 16 characters; use long random keys')

  const fdLimit = descriptorLimit()
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
    headersTimeoutMs: input.headersTimeoutMs ?? env.PUSHER_HEADERS_TIMEOUT_MS ?? DEFAULT_LIMITS.headersTimeoutMs,
    bodyTimeoutMs: input.bodyTimeoutMs ?? env.PUSHER_BODY_TIMEOUT_MS ?? DEFAULT_LIMITS.bodyTimeoutMs,
    keepAliveTimeoutMs: input.keepAliveTimeoutMs ?? env.PUSHER_KEEPALIVE_TIMEOUT_MS ?? DEFAULT_LIMITS.keepAliveTimeoutMs,
    maxConnections: input.maxConnections ?? env.PUSHER_MAX_CONNECTIONS ?? defaultMaxConnections(fdLimit),
    maxConnectionsPerUser: input.maxConnectionsPerUser ?? env.PUSHER_MAX_CONNECTIONS_PER_USER ?? DEFAULT_LIMITS.maxConnectionsPerUser,
    maxIdleConnectionsPerAddress: input.maxIdleConnectionsPerAddress ?? env.PUSHER_MAX_IDLE_PER_ADDRESS ?? DEFAULT_LIMITS.maxIdleConnectionsPerAddress,
    maxInboundFramesPerSecond: input.maxInboundFramesPerSecond ?? env.PUSHER_MAX_INBOUND_FRAMES_PER_S ?? DEFAULT_LIMITS.maxInboundFramesPerSecond,
    maxAuthFailuresPerMinute: input.maxAuthFailuresPerMinute ?? env.PUSHER_MAX_AUTH_FAILURES_PER_MIN ?? DEFAULT_LIMITS.maxAuthFailuresPerMinute,
    sendRateLimit: input.sendRateLimit ?? env.PUSHER_SEND_RATE_LIMIT ?? DEFAULT_LIMITS.sendRateLimit,
    revocationTtlSeconds: input.revocationTtlSeconds ?? env.PUSHER_REVOCATION_TTL_S ?? DEFAULT_LIMITS.revocationTtlSeconds,
    maxTopicsPerConnection: input.maxTopicsPerConnection ?? env.PUSHER_MAX_TOPICS_PER_CONNECTION ?? DEFAULT_LIMITS.maxTopicsPerConnection,
    maxTopicLength: input.maxTopicLength ?? env.PUSHER_MAX_TOPIC_LENGTH ?? DEFAULT_LIMITS.maxTopicLength,
    maxSubscribesPerSecond: input.maxSubscribesPerSecond ?? env.PUSHER_MAX_SUBSCRIBES_PER_S ?? DEFAULT_LIMITS.maxSubscribesPerSecond,
  }
  const [error] = checkLimits(limits)
  if (error !== undefined) fail(`option ${error.instancePath.slice(1)} ${error.message}`)
  if (limits.heartbeatIntervalMs > 0 && limits.heartbeatTimeoutMs >= limits.heartbeatIntervalMs) {
    fail('heartbeat timeoutMs must be shorter than intervalMs (PUSHER_HEARTBEAT_TIMEOUT_MS < PUSHER_HEARTBEAT_INTERVAL_MS)')
  }

  const metricsOn = input.metrics !== false && env.PUSHER_METRICS !== false
  const metricsInput = typeof input.metrics === 'object' ? input.metrics : {}
  const metrics = metricsOn
    ? { endpoint: metricsInput.endpoint ?? '/metrics', defaultMetrics: metricsInput.defaultMetrics ?? true }
    : false

  const allowedOrigins = resolveOrigins(input.allowedOrigins ?? env.PUSHER_ALLOWED_ORIGINS)
  if (customAuthenticator && allowedOrigins === undefined) {
    warnings.push('a custom authenticator is set and PUSHER_ALLOWED_ORIGINS (allowedOrigins) is not: if it trusts cookies, ' +
      'any web page can open a connection as its visitor (cross-site WebSocket hijacking); list the origins of your pages')
  }

  const cluster = resolveCluster(input, env)
  const store = resolveStore(input, env, cluster !== undefined, dev)
  const webhooks = resolveWebhooks(input.webhooks, env, warnings, store !== undefined)
  const swaggerUi = input.swaggerUi ?? env.PUSHER_SWAGGER_UI ?? false
  return { ...limits, jwt, apiKeys, dev, metrics, swaggerUi, allowedOrigins, cluster, store, webhooks, generated, warnings, descriptorLimit: fdLimit }
}
