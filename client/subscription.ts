// One topic subscription of a PusherClient: its state, its listeners, and its request to
// the hub, made again on every new connection with a topic token fetched afresh. The
// registry (topics.ts) says when a connection opens or drops, and hands over the hub's
// answers and the topic's messages.
import { ListenersEmitter } from './emitter.js'

/** A topic token (a JWT with the user's uid and the topic), or a function fetching one. */
export type TopicToken = string | (() => string | Promise<string>)

export interface SubscribeOptions {
  /**
   * The topic token the hub checks, or a function returning one (or a promise of one),
   * called before every subscribe request: the first, and again after each reconnect,
   * so it can fetch a fresh token. Leave it out when the hub decides with an
   * authorizeTopic hook instead.
   */
  token?: TopicToken
  /**
   * The topic's last seq the app has handled (kept from a message's `info.seq`, or
   * `subscription.seq`, across page loads): the hub first writes what its history keeps
   * after it. Without it, the subscription starts with what is published from now on;
   * either way it resumes by itself after a reconnect.
   */
  since?: number
}

/** Where and when a topic message was published. */
export interface TopicMessageInfo {
  topic: string
  /** When the hub wrote it; for one kept in the topic's history, when it was stored. Ms since the epoch. */
  time: number
  /** Published with a ttl: its id, and its place in the topic's stream (what `since` takes). */
  id?: string
  seq?: number
}

/** How a subscription was confirmed, for the `subscribed` event. */
export interface SubscribedInfo {
  /** The topic's seq the subscription is at (when the hub keeps topic history): messages after it follow. */
  seq?: number
  /**
   * When it resumed (after a reconnect, or from the `since` option): true if every
   * message after its last seq was still kept and is delivered before the live ones;
   * false if some were not, and the app should refetch what the topic tracks.
   */
  recovered?: boolean
}

/** A topic message as the client's `topicMessage` event hands it over. */
export interface TopicMessage extends TopicMessageInfo {
  data: string
}

/**
 * `pending`: not (yet) confirmed on the current connection, or no connection is open;
 * `subscribed`: the hub confirmed it; `failed`: the hub refused it (see the `error`
 * event), not asked again until `subscribe()` is called again; `unsubscribed`: over.
 */
export type SubscriptionState = 'pending' | 'subscribed' | 'failed' | 'unsubscribed'

/**
 * Why a subscription did not take. From the hub: `topic_invalid` (a name longer than
 * the hub allows), `topic_forbidden` (no valid topic token, or the hook said no),
 * `topic_limit` (too many topics on the connection), `topic_rate` (too many subscribe
 * requests: retried). From the client: `token_failed` (the token function threw:
 * retried), `frame_refused` (the hub closed the connection at the request: older than
 * topics, or the token too large for its frame limit).
 */
export type TopicErrorReason = 'topic_invalid' | 'topic_forbidden' | 'topic_limit' | 'topic_rate' | 'token_failed' | 'frame_refused'

export interface TopicError {
  topic: string
  /** A TopicErrorReason; a newer hub may send labels of its own. */
  reason: TopicErrorReason | (string & {})
  message: string
  /** True when the client asks again by itself, after a backoff delay. */
  willRetry: boolean
}

export type SubscriptionListeners = {
  /** A message published to the topic. */
  message: (data: string, info: TopicMessageInfo) => void
  /** The hub confirmed the subscription: at first, and again after each reconnect (see `recovered`). */
  subscribed: (info: SubscribedInfo) => void
  /** The hub refused the subscription, or it could not be asked. */
  error: (error: TopicError) => void
  /** The backend ended the subscription (POST /users/:uid/topics): it is over, as after unsubscribe(). */
  unsubscribed: () => void
}

/** What a subscription needs of its registry. */
export interface SubscriptionHost {
  /** The open connection, as an identity to compare; undefined when none is. */
  connection(): object | undefined
  /** Sends the subscribe request on the open connection, resuming after `since` when known. */
  sendSubscribe(subscription: Subscription, token: string | undefined, since: number | undefined): void
  /** `subscription` was unsubscribed; it was confirmed on the open connection when `wasSubscribed`. */
  forget(subscription: Subscription, wasSubscribed: boolean): void
  /** The delay before retry number `attempt` (from 0). */
  retryDelay(attempt: number): number
  /** An error thrown by one of the subscription's listeners, or a refusal the subscription has no `error` listener for. */
  reportError(error: Error): void
}

// Refusals that asking again soon can fix; the others would fail the same way.
const RETRIED_REASONS = new Set<string>(['topic_rate', 'token_failed'])

/** A client's interest in one topic; made by `client.subscribe(topic)`. */
export class Subscription extends ListenersEmitter<SubscriptionListeners> {
  private current: SubscriptionState = 'pending'
  /** Bumped to abandon a request in the making (its token still being fetched). */
  private attempt = 0
  /** Retries since the last confirmation. */
  private retries = 0
  private retryTimer: ReturnType<typeof setTimeout> | undefined
  /** The topic's last seq delivered (or confirmed by the hub): the next subscribe resumes after it. */
  private position: number | undefined

  /** @internal Made by the registry (topics.ts): use `client.subscribe(topic)`. */
  constructor(
    readonly topic: string,
    private token: TopicToken | undefined,
    private readonly host: SubscriptionHost,
    since?: number,
  ) {
    super()
    this.position = since
  }

  get state(): SubscriptionState {
    return this.current
  }

  /** The topic's seq this subscription is at: its last message kept in the topic's history, or where the hub said it starts. Undefined until known. */
  get seq(): number | undefined {
    return this.position
  }

  /**
   * Stops the subscription for good: the hub is asked to stop sending the topic, and
   * messages still on their way are dropped. Subscribing to the topic again makes a
   * new Subscription.
   */
  unsubscribe(): void {
    if (this.current === 'unsubscribed') return
    const wasSubscribed = this.current === 'subscribed'
    this.current = 'unsubscribed'
    this.cancelRequest()
    this.host.forget(this, wasSubscribed)
  }

  /** @internal Asks the hub, if a connection is open and the subscription is not confirmed on it. */
  async ask(): Promise<void> {
    const connection = this.host.connection()
    if (this.current !== 'pending' || connection === undefined) return
    const attempt = ++this.attempt
    let token: string | undefined
    try {
      token = typeof this.token === 'function' ? await this.token() : this.token
    } catch (error) {
      if (attempt !== this.attempt) return
      return this.refused({ reason: 'token_failed', message: `the topic token function failed: ${error instanceof Error ? error.message : String(error)}` })
    }
    // Given up meanwhile: unsubscribed, or the connection dropped (the next one asks anew).
    if (attempt !== this.attempt || this.current !== 'pending' || this.host.connection() !== connection) return
    this.host.sendSubscribe(this, token, this.position)
  }

  /** @internal `client.subscribe(topic)` again: a new token replaces the old; a refused subscription is asked again. */
  renew(token: TopicToken | undefined): void {
    if (token !== undefined) this.token = token
    if (this.current !== 'failed') return
    this.current = 'pending'
    this.retries = 0
    void this.ask()
  }

  /** @internal The hub's answer to this subscription's request: confirmed (where it is in the topic's stream), or refused. */
  answered(answer: { reason: string; message: string } | SubscribedInfo): void {
    if (this.current !== 'pending') return
    if ('reason' in answer) return this.refused(answer)
    this.current = 'subscribed'
    this.retries = 0
    if (answer.seq !== undefined) this.position = answer.seq
    const info: SubscribedInfo = {}
    if (answer.seq !== undefined) info.seq = answer.seq
    if (answer.recovered !== undefined) info.recovered = answer.recovered
    this.emit('subscribed', info)
  }

  /** @internal The backend unsubscribed the connection from the topic: over, not asked again. */
  endedByHub(): void {
    this.current = 'unsubscribed'
    this.cancelRequest()
    this.emit('unsubscribed')
  }

  /** @internal The connection dropped: asked again on the next one. */
  connectionLost(): void {
    if (this.current === 'subscribed') this.current = 'pending'
    this.cancelRequest()
  }

  /**
   * @internal A message published to the topic; false, without emitting it, for a
   * stored one at or before the subscription's seq (it was had already).
   */
  deliver(data: string, info: TopicMessageInfo): boolean {
    if (info.seq !== undefined) {
      if (this.position !== undefined && info.seq <= this.position) return false
      this.position = info.seq
    }
    this.emit('message', data, info)
    return true
  }

  /** @internal Abandons a request in the making and a planned retry: the connection dropped, the subscription or the client ended. */
  cancelRequest(): void {
    this.attempt++
    clearTimeout(this.retryTimer)
    this.retryTimer = undefined
  }

  /** @internal Refused; asked again later when a retry can help, else failed until subscribe() is called again. */
  refused(refusal: { reason: string; message: string }): void {
    const willRetry = RETRIED_REASONS.has(refusal.reason)
    if (willRetry) this.retryTimer = setTimeout(() => void this.ask(), this.host.retryDelay(this.retries++))
    else this.current = 'failed'
    const error = { topic: this.topic, reason: refusal.reason, message: refusal.message, willRetry }
    if (this.hasListeners('error')) return this.emit('error', error)
    // Not lost for want of a listener here: the client's `error` event tells it.
    this.host.reportError(new Error(`subscription to ${JSON.stringify(this.topic)} ${willRetry ? 'not taken yet' : 'refused'} (${error.reason}): ${error.message}`))
  }

  protected override listenerThrew(error: Error): void {
    this.host.reportError(error)
  }
}
