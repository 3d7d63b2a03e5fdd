// Decorates `fastify.store`: where durable messages wait (SQLite file, or Redis in
// cluster mode), or undefined when durable delivery is off. It opens the store, hands it
// to the bus (durable sends) and to a Replayer (lib/replay.ts: what a connecting user
// missed), and sweeps what outlived its time to live.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { PusherConfig } from '../lib/config/config.js'
import { isClusterBus } from '../lib/bus/bus.js'
import { PusherError } from '../lib/errors.js'
import { reportPersistence } from '../lib/redis/persistence.js'
import { Replayer } from '../lib/store/replay.js'
import type { MessageStore } from '../lib/store/store.js'
import { type TimedStore, timedStore } from '../lib/store/timing.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The durable store, timed for the metrics; undefined without PUSHER_DB or cluster mode. */
    store: TimedStore | undefined
  }
}

export interface StorePluginOptions {
  config: PusherConfig
}

const SWEEP_INTERVAL_MS = 30_000
/** With message.expired webhooks the sweep is what finds expired messages: every second, so they are reported within about one. */
const SWEEP_INTERVAL_FOR_WEBHOOKS_MS = 1000

async function storePlugin(fastify: FastifyInstance, { config }: StorePluginOptions) {
  const settings = config.store
  if (settings === undefined) {
    fastify.decorate('store', undefined)
    return
  }
  const options = {
    maxPerUser: settings.maxPerUser,
    maxPerTopic: settings.topicHistorySize,
    keepClosedMs: settings.keepClosedMs,
    unackedAfterMs: config.webhooks?.unackedAfterMs ?? 0,
  }
  let engine: MessageStore
  let stopPersistenceCheck = () => {}
  if (settings.path !== undefined) {
    const { SqliteStore } = await import('../lib/store/sqlite.js')
    engine = new SqliteStore({ path: settings.path, ...options })
  } else {
    const { RedisStore } = await import('../lib/store/redis.js')
    const clusterBus = fastify.bus
    if (!isClusterBus(clusterBus)) throw new PusherError.CONFIG('the Redis message store needs cluster mode (REDIS_URL)')
    engine = new RedisStore(clusterBus.redis, config.cluster!.prefix, options)
    // Queued messages live only in Redis: warn at start if a Redis restart would lose them.
    // Waits for the check (bounded), not for Redis: with Redis away it runs once it is back.
    stopPersistenceCheck = await reportPersistence(clusterBus.redis, fastify.log)
  }
  // Timed where it is made, so every caller (routes, replay, acks, sweep) is measured.
  const store = timedStore(engine)
  fastify.decorate('store', store)
  const bus = fastify.bus
  const warn = (message: string) => fastify.log.warn(message)
  // From now on app.bus.send(uid, message, { ttl }) stores first, as POST /send does.
  bus.useStore({ store, defaultTtlMs: settings.defaultTtlMs, warn })
  const replayer = new Replayer(fastify.hub, store, {
    // Half the slow-consumer bound: a replay writes that much, then waits for the client to read it.
    room: Math.floor(config.maxBufferedBytes / 2),
    presenceSettled: isClusterBus(bus) ? () => bus.presenceSettled() : undefined,
    warn,
  })

  // Framed subscribers resume topics from their history, and get stored topic messages in order.
  fastify.hub.useTopicHistory({
    async after(topic, afterSeq, limit) {
      const page = await store.topics.after(topic, afterSeq, limit)
      return { lastSeq: page.lastSeq, firstSeq: page.firstSeq, messages: page.messages.map((m) => ({ data: m.data, meta: { id: m.id, seq: m.seq, time: m.createdAt } })) }
    },
    settled: isClusterBus(bus) ? () => bus.topicsListening() : undefined,
    warn,
  })

  const sweepEveryMs = config.webhooks?.events.includes('message.expired') ? SWEEP_INTERVAL_FOR_WEBHOOKS_MS : SWEEP_INTERVAL_MS
  const timer = setInterval(() => {
    store.sweep().catch((error: Error) => fastify.log.warn(`store sweep failed: ${error.message}`))
  }, sweepEveryMs)
  timer.unref()
  fastify.addHook('onClose', async () => {
    clearInterval(timer)
    stopPersistenceCheck()
    replayer.close()
    await store.close()
  })
}

export default fp(storePlugin, { fastify: '5.x', name: 'pusher-store', dependencies: ['pusher-hub', 'pusher-bus'] })
