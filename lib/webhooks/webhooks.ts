// Turns what the hub sees into webhook events and hands them to the sender. user.online
// comes as it happens (from the presence feed); user.offline, message.unacked and, at
// each sweep, message.expired come from claims, which a timer makes: whoever's claim takes
// an entry (one node of a cluster) sends its event, and no one else. Claims take no more
// than the sender's queue has room for: what is left waits in the store or Redis for the
// next tick (or another node) instead of being dropped.
import type { ExpiredMessage, MessageNotice, MessageStore } from '../store/store.js'
import { newWebhookEvent, type WebhookEventType, type WebhookMessageData } from './events.js'
import type { OfflineUser, PresenceFeed } from './presence-feed.js'
import type { WebhookSender, WebhookStats } from './sender.js'

/** Entries one claim takes at most. */
const CLAIM_BATCH = 500

export interface WebhooksOptions {
  sender: WebhookSender
  presence: PresenceFeed
  /** The durable store, if any: message.expired and message.unacked. */
  store?: MessageStore | undefined
  events: readonly WebhookEventType[]
  /** How long a user must stay offline before user.offline. */
  offlineDelayMs: number
  /** message.unacked this long after a message was stored; 0: off. */
  unackedAfterMs: number
  warn(message: string): void
  info(message: string): void
}

export class Webhooks {
  private readonly events: ReadonlySet<WebhookEventType>
  /** How often claims run: a fraction of the debounce, between 100 ms and 1 s. */
  readonly tickMs: number
  private timer: NodeJS.Timeout | undefined
  private ticking: Promise<void> | undefined
  private claimsFailing = false

  constructor(private readonly options: WebhooksOptions) {
    this.events = new Set(options.events)
    this.tickMs = Math.min(1000, Math.max(100, Math.floor(options.offlineDelayMs / 4)))
  }

  get stats(): WebhookStats {
    return this.options.sender.stats
  }

  /** Events held by the sender: waiting, retrying or in flight. */
  get queueLength(): number {
    return this.options.sender.length
  }

  start(): void {
    const { presence, store } = this.options
    if (this.wantsPresence()) {
      presence.start((uid, time) => this.emit('user.online', uid, time))
    }
    if (store !== undefined && this.wants('message.expired')) {
      store.onExpired = (messages) => {
        for (const message of messages) this.emit('message.expired', message.uid, message.expiredAt, expiredData(message))
      }
    }
    this.timer = setInterval(() => void this.tick(), this.tickMs)
    this.timer.unref()
  }

  /** Runs the claims now (the timer runs them every tickMs); resolves when they are done. */
  tick(): Promise<void> {
    this.ticking ??= this.claim().finally(() => {
      this.ticking = undefined
    })
    return this.ticking
  }

  /** Resolves once a running tick is done and every queued event was delivered or dropped. */
  async idle(): Promise<void> {
    await this.ticking
    await this.options.sender.idle()
  }

  /** Stops claiming, sends what only this node knows (one node: every pending offline), and flushes within `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    clearInterval(this.timer)
    await this.ticking
    for (const { uid, since } of this.options.presence.drain()) this.emit('user.offline', uid, since)
    await this.options.sender.close(timeoutMs)
  }

  private async claim(): Promise<void> {
    const { presence, store, offlineDelayMs, unackedAfterMs } = this.options
    try {
      // Also with user.online alone: the pending entries must go, and they keep a reconnect from counting as online.
      if (this.wantsPresence()) {
        await this.claimAll((limit) => presence.claimOffline(offlineDelayMs, limit), ({ uid, since }: OfflineUser) => {
          this.emit('user.offline', uid, since)
        })
      }
      if (store?.claimUnacked !== undefined && unackedAfterMs > 0) {
        await this.claimAll((limit) => store.claimUnacked!(limit), (message: MessageNotice) => {
          this.emit('message.unacked', message.uid, message.createdAt + unackedAfterMs, messageData(message))
        })
      }
      if (this.claimsFailing) this.options.info('webhook claims work again')
      this.claimsFailing = false
    } catch (error) {
      // Redis away, a store error: whatever was not claimed is claimed at a later tick.
      if (!this.claimsFailing) this.options.warn(`webhook claims failed (${(error as Error).message}); trying again every ${this.tickMs} ms`)
      this.claimsFailing = true
    }
  }

  /** Claims batch after batch while the sender has room and the batches come back full. */
  private async claimAll<T>(claim: (limit: number) => Promise<T[]>, each: (item: T) => void): Promise<void> {
    for (;;) {
      const limit = Math.min(CLAIM_BATCH, this.options.sender.room)
      if (limit === 0) return
      const claimed = await claim(limit)
      for (const item of claimed) each(item)
      if (claimed.length < limit) return
    }
  }

  private wantsPresence(): boolean {
    return this.wants('user.online') || this.wants('user.offline')
  }

  private wants(type: WebhookEventType): boolean {
    return this.events.has(type)
  }

  private emit(type: WebhookEventType, uid: string, time: number, data?: WebhookMessageData): void {
    if (this.wants(type)) this.options.sender.enqueue(newWebhookEvent(type, uid, time, data))
  }
}

function messageData(message: MessageNotice): WebhookMessageData {
  const data: WebhookMessageData = { messageId: message.id, seq: message.seq, createdAt: message.createdAt, expiresAt: message.expiresAt }
  if (message.deliveredAt !== undefined) data.deliveredAt = message.deliveredAt
  return data
}

function expiredData(message: ExpiredMessage): WebhookMessageData {
  return { ...messageData(message), reason: message.reason }
}
