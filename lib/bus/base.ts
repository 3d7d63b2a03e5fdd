// What every bus does the same way, whatever carries its messages: a send with a time
// to live is stored first, then delivered (durable-send.ts), on top of the engine's own
// deliver paths (MemoryBus: this process's hub; RedisBus: the hub and the other nodes).
// So app.bus.send(uid, message, { ttl }) is the same durable send as POST /send. Every
// uid is checked here, once, before anything is stored or sent (lib/auth/uid.ts).
import type { BatchDelivery, Delivery, OutgoingMessage } from './bus.js'
import { type Deliverer, type DurableSettings, sendBatchDurable, sendDurable } from '../store/durable-send.js'
import { PusherError } from '../errors.js'
import { ttlSeconds } from '../store/ttl.js'
import { assertUid, assertUids, MAX_UID_LENGTH } from '../auth/uid.js'

export interface SendOptions {
  /** Keep the message up to this many seconds (1 to 2,592,000) until a connection of the user takes it. */
  ttl?: number | string
  /** Keep it for the store's default time to live (PUSHER_DEFAULT_TTL_S). */
  durable?: boolean
}

/** A message of a batch: its own `ttl` wins over the batch's. */
export interface BatchMessage {
  uid: string
  message: string
  ttl?: number | string
}

export abstract class BusBase implements Deliverer {
  private durable: DurableSettings | undefined

  /** `maxUidLength`: the configured one (maxUidLength); the default is the most any configuration allows. */
  constructor(private readonly maxUidLength = MAX_UID_LENGTH) {}

  /** Turns durable sends on: the store plugin calls it once the store is open. */
  useStore(settings: DurableSettings): void {
    this.durable = settings
  }

  /**
   * Sends `message` to every connection of `uid`, on every node. With `ttl` or
   * `durable`, stores it first and answers with its id, seq and status ('queued': it
   * waits for the user's next connect).
   */
  send(uid: string, message: string, options?: SendOptions): Delivery | Promise<Delivery> {
    assertUid(uid, this.maxUidLength)
    // The common send asks for nothing durable: no promise, no lookup.
    if (options === undefined || (options.ttl === undefined && options.durable !== true)) return this.deliver(uid, message)
    return sendDurable(this, this.settings(), uid, message, this.ttlMs(options.ttl, 'ttl'))
  }

  /** Sends each message to its user; a batch is delivered together, one relay per node in a cluster. */
  sendBatch(messages: BatchMessage[], options: SendOptions = {}): BatchDelivery | Promise<BatchDelivery> {
    // Refused whole: no message of the batch is stored or sent.
    assertUids(messages, this.maxUidLength)
    if (options.ttl === undefined && options.durable !== true && messages.every((m) => m.ttl === undefined)) return this.deliverBatch(messages)
    // The batch's own ttl is checked even where every message has its own.
    const batchTtlMs = options.ttl !== undefined || options.durable === true ? this.ttlMs(options.ttl, 'ttl') : undefined
    const ttls = messages.map((item, i) => (item.ttl === undefined ? batchTtlMs : this.ttlMs(item.ttl, `messages[${i}].ttl`)))
    if (ttls.every((ttlMs) => ttlMs === undefined)) return this.deliverBatch(messages)
    return sendBatchDurable(this, this.settings(), messages, ttls)
  }

  /**
   * Writes to this node's connections and relays to the others, without storing or
   * checking (send() and sendBatch() check first). `meta` marks a stored message.
   */
  abstract deliver(uid: string, message: string, meta?: OutgoingMessage['meta']): Delivery | Promise<Delivery>
  abstract deliverBatch(messages: OutgoingMessage[]): BatchDelivery | Promise<BatchDelivery>

  /** A time to live in ms: the one given (ttlSeconds checks it), or the store's default. */
  private ttlMs(ttl: number | string | undefined, field: string): number {
    const settings = this.settings()
    return ttl === undefined ? settings.defaultTtlMs : ttlSeconds(ttl, field) * 1000
  }

  private settings(): DurableSettings {
    if (this.durable === undefined) throw new PusherError.STORE_DISABLED()
    return this.durable
  }
}
