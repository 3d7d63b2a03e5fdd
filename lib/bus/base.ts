// What every bus does the same way, whatever carries its messages: a send with a time
// to live is stored first, then delivered (durable-send.ts), on top of the engine's own
// deliver paths (MemoryBus: this process's hub; RedisBus: the hub and the other nodes).
// So app.bus.send(uid, message, { ttl }) is the same durable send as POST /send. Every
// uid is checked here, once, before anything is stored or sent (lib/auth/uid.ts).
import type { BatchDelivery, BusStats, Delivery, Disconnection, OutgoingMessage, PublishBatchDelivery, RevocationResult, TopicChangeResult, TopicInfo, UserPresence } from './bus.js'
import { assertTopics, DEFAULT_MAX_TOPIC_LENGTH } from '../topics/name.js'
import { type Deliverer, type DurableSettings, sendBatchDurable, sendDurable } from '../store/durable-send.js'
import { publishBatchDurable, publishDurable, type TopicDeliverer, type TopicMessageOut } from '../store/durable-publish.js'
import { PusherError } from '../errors.js'
import { ttlSeconds } from '../store/ttl.js'
import { assertUid, assertUids, MAX_UID_LENGTH } from '../auth/uid.js'
import { type Revocation, Revocations } from '../auth/revocations.js'

/** What every engine is built with. */
export interface BusOptions {
  /** The configured maxUidLength; the default is the most any configuration allows. */
  maxUidLength?: number
  /** The list the connect check reads (app.revocations); the bus keeps it the same on every node. */
  revocations?: Revocations
  /** How long a revocation is kept after its cut (PUSHER_REVOCATION_TTL_S), in ms. */
  revocationTtlMs?: number
  /** The configured maxTopicLength (PUSHER_MAX_TOPIC_LENGTH). */
  maxTopicLength?: number
}

/** A day: longer than the usual lifetime of a connection token. */
const DEFAULT_REVOCATION_TTL_MS = 86_400_000

export interface SendOptions {
  /** Keep the message up to this many seconds (1 to 2,592,000) until a connection of the user takes it. */
  ttl?: number | string
  /** Keep it for the store's default time to live (PUSHER_DEFAULT_TTL_S). */
  durable?: boolean
}

export interface PublishOptions {
  /** Keep the message in the topic's history up to this many seconds (1 to 2,592,000), for subscribers that resume. */
  ttl?: number | string
}

/** A message of a publish batch: its own `ttl` wins over the batch's. */
export interface PublishMessage {
  topic: string
  message: string
  ttl?: number | string
}

/** A message of a batch: its own `ttl` wins over the batch's. */
export interface BatchMessage {
  uid: string
  message: string
  ttl?: number | string
}

export abstract class BusBase implements Deliverer, TopicDeliverer {
  abstract readonly stats: BusStats
  readonly revocations: Revocations
  private durable: DurableSettings | undefined
  private readonly maxUidLength: number
  private readonly revocationTtlMs: number
  private readonly maxTopicLength: number

  constructor(options: BusOptions = {}) {
    this.maxUidLength = options.maxUidLength ?? MAX_UID_LENGTH
    this.maxTopicLength = options.maxTopicLength ?? DEFAULT_MAX_TOPIC_LENGTH
    this.revocations = options.revocations ?? new Revocations()
    this.revocationTtlMs = options.revocationTtlMs ?? DEFAULT_REVOCATION_TTL_MS
  }

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

  /** Each user's connections across the cluster, in the order asked; every uid is checked first. */
  presenceOf(uids: string[]): UserPresence[] | Promise<UserPresence[]> {
    assertUids(uids, this.maxUidLength, 'uids')
    this.stats.sessions.presence += uids.length
    return this.lookUp(uids)
  }

  /** Closes every connection of `uid` on every node (4002, or 4003 with `reconnect: false`). */
  disconnect(uid: string, options: { reconnect?: boolean } = {}): Disconnection | Promise<Disconnection> {
    assertUid(uid, this.maxUidLength)
    this.stats.sessions.disconnect++
    return this.endSessions(uid, options.reconnect !== false)
  }

  /**
   * Revokes the tokens of `uid` issued before `beforeMs` (default now): recorded here, then
   * spread to every node, each of which closes the connections opened with such a token.
   */
  revoke(uid: string, options: { beforeMs?: number } = {}): RevocationResult | Promise<RevocationResult> {
    assertUid(uid, this.maxUidLength)
    const cutMs = options.beforeMs ?? Date.now()
    const now = Date.now()
    if (!Number.isFinite(cutMs) || cutMs < 0 || cutMs > now + this.revocationTtlMs) {
      throw new PusherError.INVALID_REVOCATION(`before must be a time in unix seconds, at most PUSHER_REVOCATION_TTL_S (${this.revocationTtlMs / 1000} s) from now`)
    }
    // Kept for the TTL from the cut, or from now for a cut in the past: a token issued
    // before it may still be valid that long.
    this.stats.sessions.revoke++
    const revocation = this.revocations.add(uid, { cutMs, untilMs: Math.max(cutMs, now) + this.revocationTtlMs })
    return this.spreadRevocation(uid, revocation)
  }

  /**
   * To every subscriber of `topic`, on every node; the name is checked first. With
   * `ttl`, the message is kept in the topic's history first (durable-publish.ts), and
   * the answer carries its id and seq.
   */
  publish(topic: string, message: string, options?: PublishOptions): Delivery | Promise<Delivery> {
    assertTopics([topic], this.maxTopicLength)
    if (options?.ttl === undefined) return this.deliverTopic(topic, message)
    return publishDurable(this, this.settings(), topic, message, this.ttlMs(options.ttl, 'ttl'))
  }

  /** Each message to its topic (its own `ttl` wins over the batch's); every name and ttl is checked before anything is published. */
  publishBatch(messages: PublishMessage[], options: PublishOptions = {}): PublishBatchDelivery | Promise<PublishBatchDelivery> {
    assertTopics(messages.map((m) => m.topic), this.maxTopicLength, 'messages')
    if (options.ttl === undefined && messages.every((m) => m.ttl === undefined)) return this.deliverTopics(messages)
    const batchTtlMs = options.ttl === undefined ? undefined : this.ttlMs(options.ttl, 'ttl')
    const ttls = messages.map((item, i) => (item.ttl === undefined ? batchTtlMs : this.ttlMs(item.ttl, `messages[${i}].ttl`)))
    return publishBatchDurable(this, this.settings(), messages, ttls)
  }

  /** Subscribes the open connections of `uid`, on every node, to topics and out of others. */
  changeTopics(uid: string, change: { subscribe?: string[]; unsubscribe?: string[] }): TopicChangeResult | Promise<TopicChangeResult> {
    assertUid(uid, this.maxUidLength)
    const subscribe = [...new Set(change.subscribe ?? [])]
    const unsubscribe = [...new Set(change.unsubscribe ?? [])]
    assertTopics(subscribe, this.maxTopicLength, 'subscribe')
    assertTopics(unsubscribe, this.maxTopicLength, 'unsubscribe')
    return this.applyTopicChange(uid, subscribe, unsubscribe)
  }

  /** Who watches `topic`, across the cluster. */
  topicInfo(topic: string): TopicInfo | Promise<TopicInfo> {
    assertTopics([topic], this.maxTopicLength)
    return this.lookUpTopic(topic)
  }

  /** Counts a publish by outcome, and answers it. */
  protected countPublish(delivery: Delivery): Delivery {
    if (delivery.delivered > 0) this.stats.publishes.delivered++
    else this.stats.publishes.no_subscribers++
    return delivery
  }

  protected abstract deliverTopic(topic: string, message: string): Delivery | Promise<Delivery>
  /** Publishes without storing or checking; `meta` marks a message kept in its topic's history. */
  abstract deliverTopics(messages: TopicMessageOut[]): PublishBatchDelivery | Promise<PublishBatchDelivery>
  protected abstract applyTopicChange(uid: string, subscribe: string[], unsubscribe: string[]): TopicChangeResult | Promise<TopicChangeResult>
  protected abstract lookUpTopic(topic: string): TopicInfo | Promise<TopicInfo>

  /** The answer to a revocation that `nodes` nodes applied. */
  protected revocationResult(uid: string, revocation: Revocation, nodes: number): RevocationResult {
    return { uid, before: Math.floor(revocation.cutMs / 1000), keptUntil: Math.ceil(revocation.untilMs / 1000), nodes }
  }

  protected abstract lookUp(uids: string[]): UserPresence[] | Promise<UserPresence[]>
  protected abstract endSessions(uid: string, reconnect: boolean): Disconnection | Promise<Disconnection>
  /** Applies a recorded revocation on this node and makes every other node apply it. */
  protected abstract spreadRevocation(uid: string, revocation: Revocation): RevocationResult | Promise<RevocationResult>

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
