// Store latency for the metrics, measured in one place for every engine: timedStore()
// wraps a MessageStore, and each call reports how long it took to settle (resolved or
// rejected) to recordDuration, which the metrics plugin sets (lib/metrics/store-metrics.ts), the way
// it sets hub.recordLatency. Until then, or with metrics off, calls pass straight through.
import { performance } from 'node:perf_hooks'
import type { ExpiredMessage, MessageNotice, MessageStatus, MessageStore, NewMessage, StoredMessage, StoreStats } from './store.js'
import type { NewTopicMessage, TopicHistory, TopicHistoryPage, TopicHistoryStats, TopicMessage } from './topic-history.js'

/** The operations timed, as the `operation` label of pusher_store_operation_duration_seconds. */
export const STORE_OPERATIONS = ['append', 'mark_delivered', 'ack', 'last_seq', 'open', 'get', 'sweep', 'topic_append', 'topic_after'] as const
export type StoreOperation = (typeof STORE_OPERATIONS)[number]

export type RecordStoreDuration = (operation: StoreOperation, seconds: number) => void

type Time = <T>(operation: StoreOperation, call: () => Promise<T>) => Promise<T>

/** The engine's topic history, timed by (and counted in the settled() of) the TimedStore that made it. */
class TimedTopicHistory implements TopicHistory {
  constructor(readonly inner: TopicHistory, private readonly time: Time) {}

  get stats(): TopicHistoryStats {
    return this.inner.stats
  }

  append(messages: NewTopicMessage[], now?: number): Promise<TopicMessage[]> {
    return this.time('topic_append', () => this.inner.append(messages, now))
  }

  after(topic: string, afterSeq: number, limit: number, now?: number): Promise<TopicHistoryPage> {
    return this.time('topic_after', () => this.inner.after(topic, afterSeq, limit, now))
  }

  /** Not timed on its own: the store's sweep() runs it, timed as `sweep`. */
  sweep(now?: number): Promise<number> {
    return this.inner.sweep(now)
  }
}

export class TimedStore implements MessageStore {
  /** Called once per operation with its duration in seconds; undefined: nothing is timed. */
  recordDuration: RecordStoreDuration | undefined
  readonly topics: TopicHistory

  constructor(readonly inner: MessageStore, recordDuration?: RecordStoreDuration) {
    this.recordDuration = recordDuration
    this.topics = new TimedTopicHistory(inner.topics, (operation, call) => this.time(operation, call))
  }

  /** The engine's own counters (the same object, so increments through either are one). */
  get stats(): StoreStats {
    return this.inner.stats
  }

  append(messages: NewMessage[], now?: number): Promise<StoredMessage[]> {
    return this.time('append', () => this.inner.append(messages, now))
  }

  markDelivered(ids: string[], now?: number): Promise<void> {
    return this.time('mark_delivered', () => this.inner.markDelivered(ids, now))
  }

  ack(uid: string, seq: number, now?: number): Promise<number> {
    return this.time('ack', () => this.inner.ack(uid, seq, now))
  }

  lastSeq(uid: string): Promise<number> {
    return this.time('last_seq', () => this.inner.lastSeq(uid))
  }

  open(uid: string, afterSeq: number, limit: number, now?: number): Promise<StoredMessage[]> {
    return this.time('open', () => this.inner.open(uid, afterSeq, limit, now))
  }

  get(id: string, now?: number): Promise<StoredMessage | undefined> {
    return this.time('get', () => this.inner.get(id, now))
  }

  sweep(now?: number): Promise<{ expired: number; forgotten: number }> {
    return this.time('sweep', () => this.inner.sweep(now))
  }

  /** Not timed: the metrics scrape calls it, and /metrics' own HTTP duration covers it. */
  countByStatus(now?: number): Promise<Record<MessageStatus, number>> {
    return this.inner.countByStatus(now)
  }

  /** Not timed either: the readiness check calls it, at most about once a second. */
  checkWritable(now?: number): Promise<void> {
    return this.inner.checkWritable(now)
  }

  close(): Promise<void> {
    return this.inner.close()
  }

  /** The engine's own listener: set here, it hears the engine's sweeps and appends. */
  get onExpired(): ((messages: ExpiredMessage[]) => void) | undefined {
    return this.inner.onExpired
  }

  set onExpired(listener: ((messages: ExpiredMessage[]) => void) | undefined) {
    this.inner.onExpired = listener
  }

  /** Not timed: the webhooks call it on their own timer, off every sender's and client's path. */
  claimUnacked(limit: number, now?: number): Promise<MessageNotice[]> {
    if (this.inner.claimUnacked === undefined) return Promise.resolve([])
    return this.inner.claimUnacked(limit, now)
  }

  /**
   * Resolves once no operation is in flight: everything asked of the store so far,
   * including the updates the hub fires without waiting (delivered marks, acks), has
   * landed or failed. Tests await it instead of polling.
   */
  settled(): Promise<void> {
    if (this.inFlight === 0) return Promise.resolve()
    return new Promise((resolve) => this.settledWaiters.push(resolve))
  }

  private inFlight = 0
  private settledWaiters: Array<() => void> = []

  private time<T>(operation: StoreOperation, call: () => Promise<T>): Promise<T> {
    const start = performance.now()
    const promise = call()
    this.inFlight++
    // Recorded before the caller's own continuation runs, and the caller still sees a rejection.
    const done = () => {
      this.recordDuration?.(operation, (performance.now() - start) / 1000)
      if (--this.inFlight === 0) for (const wake of this.settledWaiters.splice(0)) wake()
    }
    promise.then(done, done)
    return promise
  }
}

/** `store`, timed: wrap the store once where it is made, and use the wrapper everywhere. */
export function timedStore(store: MessageStore, recordDuration?: RecordStoreDuration): TimedStore {
  if (!(store instanceof TimedStore)) return new TimedStore(store, recordDuration)
  if (recordDuration !== undefined) store.recordDuration = recordDuration
  return store
}
