// Decorates `fastify.store`: where durable messages wait (SQLite file, or Redis in
// cluster mode), or undefined when durable delivery is off. When a user connects, the
// messages queued for them while they were away are written to that connection, in
// order; a sweep expires what outlived its time to live.
import { performance } from 'node:perf_hooks'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { PusherConfig } from '../lib/config.js'
import type { Connection } from '../lib/connection.js'
import { isClusterBus } from '../lib/bus.js'
import { reportPersistence } from '../lib/redis-persistence.js'
import type { MessageStore, StoredMessage } from '../lib/store.js'
import { type TimedStore, timedStore } from '../lib/store-timing.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** The durable store, timed for the metrics; undefined without PUSHER_DB or cluster mode. */
    store: TimedStore | undefined
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
  let engine: MessageStore
  let stopPersistenceCheck = () => {}
  if (settings.path !== undefined) {
    const { SqliteStore } = await import('../lib/store-sqlite.js')
    engine = new SqliteStore({ path: settings.path, ...options })
  } else {
    const { RedisStore } = await import('../lib/store-redis.js')
    const redisBus = fastify.bus as unknown as { redis: import('ioredis').Redis }
    engine = new RedisStore(redisBus.redis, config.cluster!.prefix, options)
    // Queued messages live only in Redis: warn at start if a Redis restart would lose them.
    // Waits for the check (bounded), not for Redis: with Redis away it runs once it is back.
    stopPersistenceCheck = await reportPersistence(redisBus.redis, fastify.log)
  }
  // Timed where it is made, so every caller (routes, replay, acks, sweep) is measured.
  const store = timedStore(engine)
  fastify.decorate('store', store)

  const hub = fastify.hub
  const bus = fastify.bus
  /** Half the slow-consumer bound: a replay writes that much, then waits for the client to read it. */
  const replayRoom = Math.floor(config.maxBufferedBytes / 2)

  /**
   * Writes the user's stored messages to a connection, oldest first, page by page, then
   * the live messages held meanwhile. On connect, framed clients get every unacknowledged
   * message after their `since`, plain clients the ones no connection took yet; after a
   * gap, a framed client gets what it misses.
   */
  const replay = async (connection: Connection): Promise<void> => {
    let after = connection.framed ? connection.seq : 0
    // The last seq the connection has: held live messages up to it are not written again.
    let seen = after
    let covered = 0
    let complete = false
    try {
      // In a cluster, a sender on another node finds this connection through presence:
      // once it is written, a message stored after this point is relayed live, and one
      // stored before is in the store when the read below runs.
      if (isClusterBus(bus)) await bus.presenceSettled()
      // Read first: every message up to it is stored before the pages below are read.
      covered = await store.lastSeq(connection.uid)
      // Nothing stored after `after` (most connects: a user with no durable messages, or
      // a client that has them all): no page to read. What comes later arrives live.
      while (after < covered) {
        const page = await store.open(connection.uid, after, REPLAY_PAGE)
        if (connection.ended) return
        const due = connection.framed ? page : page.filter((m) => m.status === 'queued')
        const replayed = due.map((m) => ({ data: m.data, meta: { id: m.id, seq: m.seq, time: m.createdAt } }))
        const written = connection.replay(replayed, performance.now(), replayRoom)
        if (written > 0) {
          seen = due[written - 1]!.seq
          store.stats.replayed += written
          markDelivered(due.slice(0, written))
        }
        if (!connection.writable) return
        if (written === due.length) {
          if (page.length < REPLAY_PAGE) break
          after = page[page.length - 1]!.seq
        } else {
          // Out of room: once the client has taken what was written, go on after it.
          after = Math.max(after, seen)
          await connection.drained()
        }
      }
      complete = true
    } finally {
      // After a failed read, what is stored stays for the next connect, and the live
      // messages go out now, as they came. A framed replay wrote every open message up
      // to `covered`; a plain one only the queued ones, so a message it skipped (written
      // elsewhere) still reaches a plain client when its live relay comes after the read.
      if (!complete) hub.release(connection, seen, false)
      else hub.release(connection, connection.framed ? Math.max(seen, covered) : seen)
    }
  }
  /** Not awaited: the replay goes on whether or not the status update lands. */
  const markDelivered = (written: StoredMessage[]) => {
    const ids = written.filter((m) => m.status === 'queued').map((m) => m.id)
    if (ids.length === 0) return
    store.markDelivered(ids).catch((error: Error) => fastify.log.warn(`marking replayed messages delivered failed: ${error.message}`))
  }
  const onConnect = (connection: Connection) => {
    connection.holdBack()
    replay(connection).catch((error: Error) => fastify.log.warn(`replay to ${connection.uid} failed: ${error.message}`))
  }
  const onGap = (connection: Connection) => {
    replay(connection).catch((error: Error) => fastify.log.warn(`filling a gap for ${connection.uid} failed: ${error.message}`))
  }
  const onAck = (connection: Connection, seq: number) => {
    store.ack(connection.uid, seq).catch((error: Error) => fastify.log.warn(`ack from ${connection.uid} failed: ${error.message}`))
  }
  hub.on('connect', onConnect)
  hub.on('ack', onAck)
  hub.on('gap', onGap)

  const timer = setInterval(() => {
    store.sweep().catch((error: Error) => fastify.log.warn(`store sweep failed: ${error.message}`))
  }, SWEEP_INTERVAL_MS)
  timer.unref()
  fastify.addHook('onClose', async () => {
    clearInterval(timer)
    stopPersistenceCheck()
    hub.off('connect', onConnect)
    hub.off('ack', onAck)
    hub.off('gap', onGap)
    await store.close()
  })
}

export default fp(storePlugin, { fastify: '5.x', name: 'pusher-store', dependencies: ['pusher-hub', 'pusher-bus'] })
