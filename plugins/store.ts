// Decorates `fastify.store`: where durable messages wait (SQLite file, or Redis in
// cluster mode), or undefined when durable delivery is off. When a user connects, the
// messages queued for them while they were away are written to that connection, in
// order; a sweep expires what outlived its time to live.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { PusherConfig } from '../lib/config.js'
import type { Connection } from '../lib/connection.js'
import type { MessageStore } from '../lib/store.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: MessageStore | undefined
  }
}

export interface StorePluginOptions {
  config: PusherConfig
}

/** How many queued messages one connect replays at most; the rest wait for the next connect. */
const REPLAY_LIMIT = 1000
const SWEEP_INTERVAL_MS = 30_000

async function storePlugin(fastify: FastifyInstance, { config }: StorePluginOptions) {
  const settings = config.store
  if (settings === undefined) {
    fastify.decorate('store', undefined)
    return
  }
  const options = { maxPerUser: settings.maxPerUser, keepClosedMs: settings.keepClosedMs }
  let store: MessageStore
  if (settings.path !== undefined) {
    const { SqliteStore } = await import('../lib/store-sqlite.js')
    store = new SqliteStore({ path: settings.path, ...options })
  } else {
    const { RedisStore } = await import('../lib/store-redis.js')
    const bus = fastify.bus as unknown as { redis: import('ioredis').Redis }
    store = new RedisStore(bus.redis, config.cluster!.prefix, options)
  }
  fastify.decorate('store', store)

  const hub = fastify.hub
  const replay = async (connection: Connection) => {
    const queued = (await store.open(connection.uid, 0, REPLAY_LIMIT)).filter((m) => m.status === 'queued')
    const written = queued.filter((m) => hub.sendTo(connection, m.data))
    if (written.length > 0) await store.markDelivered(written.map((m) => m.id))
  }
  const onConnect = (connection: Connection) => {
    replay(connection).catch((error: Error) => fastify.log.warn(`replay to ${connection.uid} failed: ${error.message}`))
  }
  hub.on('connect', onConnect)

  const timer = setInterval(() => {
    store.sweep().catch((error: Error) => fastify.log.warn(`store sweep failed: ${error.message}`))
  }, SWEEP_INTERVAL_MS)
  timer.unref()
  fastify.addHook('onClose', async () => {
    clearInterval(timer)
    hub.off('connect', onConnect)
    await store.close()
  })
}

export default fp(storePlugin, { fastify: '5.x', name: 'pusher-store', dependencies: ['pusher-hub', 'pusher-bus'] })
