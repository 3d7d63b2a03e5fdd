// Decorates `fastify.store`: where durable messages wait (SQLite file, or Redis in
// cluster mode), or undefined when durable delivery is off. When a user connects, the
// messages queued for them while they were away are written to that connection, in
// order; a sweep expires what outlived its time to live.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { PusherConfig } from '../lib/config.js'
import type { Connection } from '../lib/connection.js'
import { isClusterBus } from '../lib/bus.js'
import type { MessageStore } from '../lib/store.js'
import { timedStore } from '../lib/store-timing.js'

declare module 'fastify' {
  interface FastifyInstance {
    store: MessageStore | undefined
  }
}

export interface StorePluginOptions {
  config: PusherConfig
}

/** Stored messages read per query during a replay. */
const REPLAY_PAGE = 200
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
    const redisBus = fastify.bus as unknown as { redis: import('ioredis').Redis }
    store = new RedisStore(redisBus.redis, config.cluster!.prefix, options)
  }
  // Timed where it is made, so every caller (routes, replay, acks, sweep) is measured.
  store = timedStore(store)
  fastify.decorate('store', store)

  const hub = fastify.hub
  const bus = fastify.bus
  /** Half the slow-consumer bound: a replay waits for the client to read before writing more. */
  const replayRoom = Math.floor(config.maxBufferedBytes / 2)

  /**
   * Writes the user's stored messages to a new connection, oldest first, page by page,
   * then the live messages held meanwhile. Framed clients get every unacknowledged
   * message after their `since`; plain clients get the ones no connection took yet.
   */
  const replay = async (connection: Connection): Promise<void> => {
    // In a cluster, a sender on another node finds this connection through presence: once
    // it is written, a message stored after this point is relayed live, and one stored
    // before is in the store when the read below runs.
    if (isClusterBus(bus)) await bus.presenceSettled()
    let after = connection.framed ? connection.since : 0
    let seen = after
    for (;;) {
      const page = await store.open(connection.uid, after, REPLAY_PAGE)
      if (connection.ended) return
      const due = connection.framed ? page : page.filter((m) => m.status === 'queued')
      const written = hub.replay(connection, due.map((m) => ({ data: m.data, meta: { id: m.id, seq: m.seq, time: m.createdAt } })))
      if (written > 0) {
        seen = due[written - 1]!.seq
        store.stats.replayed += written
        const delivered = due.slice(0, written).filter((m) => m.status === 'queued').map((m) => m.id)
        if (delivered.length > 0) await store.markDelivered(delivered)
      }
      if (written < due.length || page.length < REPLAY_PAGE) break
      after = page[page.length - 1]!.seq
      await connection.roomFor(replayRoom)
    }
    hub.release(connection, seen)
  }
  const onConnect = (connection: Connection) => {
    hub.holdBack(connection)
    replay(connection).catch((error: Error) => {
      // What is stored stays stored for the next connect; the live messages go out now.
      fastify.log.warn(`replay to ${connection.uid} failed: ${error.message}`)
      hub.release(connection, 0)
    })
  }
  const onAck = (connection: Connection, seq: number) => {
    store.ack(connection.uid, seq).catch((error: Error) => fastify.log.warn(`ack from ${connection.uid} failed: ${error.message}`))
  }
  hub.on('connect', onConnect)
  hub.on('ack', onAck)

  const timer = setInterval(() => {
    store.sweep().catch((error: Error) => fastify.log.warn(`store sweep failed: ${error.message}`))
  }, SWEEP_INTERVAL_MS)
  timer.unref()
  fastify.addHook('onClose', async () => {
    clearInterval(timer)
    hub.off('connect', onConnect)
    hub.off('ack', onAck)
    await store.close()
  })
}

export default fp(storePlugin, { fastify: '5.x', name: 'pusher-store', dependencies: ['pusher-hub', 'pusher-bus'] })
