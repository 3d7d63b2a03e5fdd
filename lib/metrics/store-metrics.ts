// The durable store's metrics: messages by status, what this node stored, delivered,
// acknowledged, expired and replayed, topic history, and how long store operations take.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { MessageStatus, MessageStore } from '../store/store.js'
import { STORE_OPERATIONS, TimedStore } from '../store/timing.js'
import { FastHistogram } from './histogram.js'
import { LATENCY_BUCKETS, setCounter, setCounters } from './metrics.js'

// Store operations: from 50 µs (an SQLite read) to 2.5 s (a store in trouble).
export const STORE_BUCKETS = [0.00005, ...LATENCY_BUCKETS]

/**
 * The durable store's metrics, registered only when a store is configured.
 * Counters are this node's own; pusher_store_messages describes the whole store, which
 * in cluster mode (Redis) every node shares: there, every node reports the same value.
 */
export function registerStoreMetrics(registry: Registry, store: MessageStore): void {
  const registers = [registry]
  const { stats } = store
  new Gauge({
    name: 'pusher_store_messages',
    help: 'Messages kept in the durable store, by status: queued (not yet written to a connection), delivered (written, not acknowledged), acked, expired (TTL ran out, or dropped for the per-user limit). Acked and expired ones are kept for keepClosedSeconds, then forgotten. In cluster mode the whole cluster\'s store, the same on every node',
    labelNames: ['status'],
    registers,
    async collect() {
      this.reset()
      let counts: Record<MessageStatus, number>
      try {
        counts = await store.countByStatus()
      } catch {
        // Store unreachable (Redis down) or closing: no sample, rather than a failed scrape.
        return
      }
      for (const [status, count] of Object.entries(counts)) this.set({ status }, count)
    },
  })
  new Counter({
    name: 'pusher_store_stored_total',
    help: 'Durable messages stored by this node (sends with a ttl, or durable)',
    registers,
    collect() { setCounter(this, stats.stored) },
  })
  new Counter({
    name: 'pusher_store_delivered_total',
    help: 'Stored messages marked delivered by this node: written to a connection for the first time (live or by a replay)',
    registers,
    collect() { setCounter(this, stats.delivered) },
  })
  new Counter({
    name: 'pusher_store_acked_total',
    help: 'Stored messages acknowledged by clients through this node',
    registers,
    collect() { setCounter(this, stats.acked) },
  })
  new Counter({
    name: 'pusher_store_expired_total',
    help: 'Stored messages expired by this node before being acknowledged, by reason: ttl (its time to live ran out; counted when the sweep, every 30 s, expires it) or queue_limit (dropped, oldest first, when its user had more than PUSHER_MAX_QUEUED_PER_USER messages open)',
    labelNames: ['reason'],
    registers,
    collect() { setCounters(this, 'reason', { ttl: stats.expired - stats.dropped, queue_limit: stats.dropped }) },
  })
  new Counter({
    name: 'pusher_topic_history_stored_total',
    help: 'Messages published with a ttl that this node kept in their topic\'s history',
    registers,
    collect() { setCounter(this, store.topics.stats.stored) },
  })
  new Counter({
    name: 'pusher_topic_history_trimmed_total',
    help: 'Messages this node removed from a topic\'s history before their ttl ran out: the topic kept PUSHER_TOPIC_HISTORY_SIZE newer ones',
    registers,
    collect() { setCounter(this, store.topics.stats.trimmed) },
  })
  new Counter({
    name: 'pusher_store_replayed_total',
    help: 'Stored messages written to a connection by a replay when it connected (a user catching up on what was sent while away)',
    registers,
    collect() { setCounter(this, stats.replayed) },
  })

  const durations = new FastHistogram(
    'pusher_store_operation_duration_seconds',
    'Time a durable store operation took to complete, by operation (append: until the message is durable; mark_delivered, ack, last_seq, open, get, sweep; topic_append: until a topic message is durable in its history, topic_after: a read of it)',
    STORE_BUCKETS,
    registry,
  )
  // Every operation's series from the start, at zero, so rates and alerts see them at once.
  const series = Object.fromEntries(STORE_OPERATIONS.map((operation) => [operation, durations.labels({ operation })]))
  if (store instanceof TimedStore) store.recordDuration = (operation, seconds) => series[operation]!.observe(seconds)
}
