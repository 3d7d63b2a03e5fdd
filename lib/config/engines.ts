// Where messages and nodes live: the durable store (SQLite, or Redis in cluster mode) and
// the cluster's Redis link. Part of resolveConfig (config.ts), which passes the typed
// environment; every problem is reported with the option and the variable to set.
import { randomBytes } from 'node:crypto'
import { hostname } from 'node:os'
import type { RedisOptions } from 'ioredis'
import type { PusherConfigInput } from './config.js'
import { fail, splitList } from './util.js'
import { DEFAULT_TOPIC_HISTORY_SIZE, MAX_TOPIC_HISTORY_SIZE } from '../store/topic-history.js'

/** The variables read here, as env-schema typed them. */
export interface EnginesEnv {
  PUSHER_DB?: string
  PUSHER_DEFAULT_TTL_S?: number
  PUSHER_MAX_QUEUED_PER_USER?: number
  PUSHER_TOPIC_HISTORY_SIZE?: number
  REDIS_URL?: string
  REDIS_SENTINELS?: string
  REDIS_SENTINEL_NAME?: string
  PUSHER_REDIS_PREFIX?: string
  PUSHER_NODE_ID?: string
  PUSHER_LEASE_TTL_MS?: number
}

export interface ClusterConfig {
  connection: string | RedisOptions
  prefix: string
  nodeId: string
  leaseTtlMs: number
}

/** better-sqlite3's name for a database that lives and dies with the process. */
export const IN_MEMORY = ':memory:'

export interface StoreConfig {
  /** SQLite file; undefined in cluster mode, where Redis keeps the messages. */
  path: string | undefined
  defaultTtlMs: number
  maxPerUser: number
  /** Messages kept per topic for subscribers that resume; beyond it the oldest go. */
  topicHistorySize: number
  keepClosedMs: number
}

export function resolveStore(input: PusherConfigInput, env: EnginesEnv, cluster: boolean, dev: boolean): StoreConfig | undefined {
  if (input.store === false) return undefined
  const options = input.store ?? {}
  // Development mode keeps durable messages in memory, for this run only, so that a
  // try-out can send with a ttl without choosing a file first.
  const path = options.path ?? env.PUSHER_DB ?? (dev ? IN_MEMORY : undefined)
  if (path === undefined && !cluster) return undefined
  const defaultTtlSeconds = options.defaultTtlSeconds ?? env.PUSHER_DEFAULT_TTL_S ?? 86_400
  const maxPerUser = options.maxPerUser ?? env.PUSHER_MAX_QUEUED_PER_USER ?? 1000
  if (!Number.isInteger(defaultTtlSeconds) || defaultTtlSeconds < 1) fail('store.defaultTtlSeconds (PUSHER_DEFAULT_TTL_S) must be a whole number of seconds, at least 1')
  if (!Number.isInteger(maxPerUser) || maxPerUser < 1) fail('store.maxPerUser (PUSHER_MAX_QUEUED_PER_USER) must be at least 1')
  const topicHistorySize = options.topicHistorySize ?? env.PUSHER_TOPIC_HISTORY_SIZE ?? DEFAULT_TOPIC_HISTORY_SIZE
  if (!Number.isInteger(topicHistorySize) || topicHistorySize < 1 || topicHistorySize > MAX_TOPIC_HISTORY_SIZE) {
    fail(`store.topicHistorySize (PUSHER_TOPIC_HISTORY_SIZE) must be a whole number from 1 to ${MAX_TOPIC_HISTORY_SIZE}`)
  }
  return {
    path: cluster ? undefined : path,
    defaultTtlMs: defaultTtlSeconds * 1000,
    maxPerUser,
    topicHistorySize,
    keepClosedMs: (options.keepClosedSeconds ?? 86_400) * 1000,
  }
}

export function resolveCluster(input: PusherConfigInput, env: EnginesEnv): ClusterConfig | undefined {
  let connection: string | RedisOptions | undefined = input.redis ?? env.REDIS_URL
  if (connection === undefined && env.REDIS_SENTINELS !== undefined) {
    if (env.REDIS_SENTINEL_NAME === undefined) fail('REDIS_SENTINELS needs REDIS_SENTINEL_NAME, the name of the monitored master')
    const sentinels = splitList(env.REDIS_SENTINELS).map((hostPort) => {
      const [host, port] = hostPort.split(':')
      return { host: host!, port: Number(port ?? 26379) }
    })
    connection = { sentinels, name: env.REDIS_SENTINEL_NAME }
  }
  if (connection === undefined || connection === '') return undefined
  if (typeof connection === 'string' && !/^rediss?:\/\//.test(connection)) fail(`REDIS_URL must start with redis:// or rediss://, got "${connection}"`)
  const options = input.cluster ?? {}
  const leaseTtlMs = options.leaseTtlMs ?? env.PUSHER_LEASE_TTL_MS ?? 5000
  if (!Number.isInteger(leaseTtlMs) || leaseTtlMs < 500) fail('cluster.leaseTtlMs (PUSHER_LEASE_TTL_MS) must be an integer of at least 500')
  const prefix = options.prefix ?? env.PUSHER_REDIS_PREFIX ?? 'pusher:'
  const nodeId = options.nodeId ?? env.PUSHER_NODE_ID ?? `${hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`
  if (!/^[\w.:-]{1,100}$/.test(nodeId)) fail(`node id "${nodeId}" may hold only letters, digits and . _ : - (at most 100)`)
  return { connection, prefix, nodeId, leaseTtlMs }
}
