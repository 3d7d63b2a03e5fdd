// The topic subscriptions of a PusherClient: one Subscription per topic, asked for on
// every connection as it opens, and the hub's answers and topic messages routed to them.
//
// The hub answers each request with a frame naming its topic, except when the name was
// invalid: it does not echo what may not be a name. Names are checked here before they
// are sent, by the hub's own rule, against the longest any hub accepts; so a refusal
// without a name means a name longer than this hub allows, and among the requests still
// unanswered the longest is such a one (any request longer than it is invalid too, and
// gets its own refusal).
//
// History: a message published with a ttl carries its seq in the topic's stream, and
// each subscription remembers the last it delivered (or the seq the hub confirmed it at).
// On a new connection it asks again with `since`: the hub writes what its history kept
// after it, then the live messages, and says with `recovered` whether anything was lost.
import { backoffDelay, type BackoffOptions } from './backoff.js'
import { subscribeFrame, unsubscribeFrame, type TopicFrame, type TopicRefused, type TopicReply } from './frames.js'
import { type SubscribeOptions, Subscription, type SubscriptionHost, type TopicMessage, type TopicMessageInfo } from './subscription.js'
import { MAX_TOPIC_LENGTH, topicProblem } from '../lib/topics/name-rule.js'

/** What the registry needs of the client. */
export interface TopicsClient {
  /** Delays between retries of a subscribe the hub asked to slow down, or whose token could not be fetched. */
  readonly backoff: BackoffOptions | undefined
  /** Every topic message, subscribed here or not (a token's `topics` claim, the backend). */
  topicMessage(message: TopicMessage): void
  /** An error thrown by a subscription's listener, or a refusal the subscription has no `error` listener for. */
  reportError(error: Error): void
}

/** The open connection, for the registry: it writes frames on it. */
export interface TopicLink {
  send(frame: string): void
}

/** A request sent on the open connection and not answered yet: a subscribe (`from` a subscription) or an unsubscribe. */
interface Unanswered {
  topic: string
  from: Subscription | undefined
}

export class Topics {
  private readonly subscriptions = new Map<string, Subscription>()
  private link: TopicLink | undefined
  private unanswered: Unanswered[] = []
  private readonly host: SubscriptionHost

  constructor(private readonly client: TopicsClient) {
    this.host = {
      connection: () => this.link,
      sendSubscribe: (subscription, token, since) => {
        this.unanswered.push({ topic: subscription.topic, from: subscription })
        this.link?.send(subscribeFrame(subscription.topic, token, since))
      },
      forget: (subscription, wasSubscribed) => this.forget(subscription, wasSubscribed),
      retryDelay: (attempt) => backoffDelay(attempt, this.client.backoff),
      reportError: (error) => this.client.reportError(error),
    }
  }

  /** The subscription of `topic`, made (and asked for, once a connection is open) unless there is one. */
  subscribe(topic: string, options: SubscribeOptions): Subscription {
    const problem = topicProblem(topic, MAX_TOPIC_LENGTH)
    if (problem !== undefined) throw new TypeError(problem)
    if (options.since !== undefined && !(Number.isSafeInteger(options.since) && options.since >= 0)) throw new TypeError('since must be a whole number: a seq from a topic message or subscription.seq')
    const existing = this.subscriptions.get(topic)
    if (existing !== undefined) {
      existing.renew(options.token)
      return existing
    }
    const subscription = new Subscription(topic, options.token, this.host, options.since)
    this.subscriptions.set(topic, subscription)
    void subscription.ask()
    return subscription
  }

  /** A connection opened: every subscription not refused is asked for on it. */
  opened(link: TopicLink): void {
    this.link = link
    this.unanswered = []
    for (const subscription of this.subscriptions.values()) void subscription.ask()
  }

  /** The connection dropped: nothing it was asked will be answered. */
  closed(): void {
    this.link = undefined
    this.unanswered = []
    for (const subscription of this.subscriptions.values()) subscription.connectionLost()
  }

  /** The client stopped for good. */
  stop(): void {
    for (const subscription of this.subscriptions.values()) subscription.cancelRequest()
  }

  /** Requests were sent on the open connection and are not answered yet. */
  get awaitingAnswers(): boolean {
    return this.unanswered.length > 0
  }

  /**
   * The hub closed the connection at a frame it would not take (1008, 1009) while
   * subscribe requests were unanswered: a hub older than topics, or a token too large
   * for its frame limit. Asking again would end the same way, so each fails.
   */
  refusedFrame(message: string): void {
    const asked = new Set(this.unanswered.map((request) => request.from))
    for (const subscription of asked) {
      if (subscription !== undefined && this.subscriptions.get(subscription.topic) === subscription) subscription.refused({ reason: 'frame_refused', message })
    }
  }

  /** A message published to a topic: to its subscription, then to the client's topicMessage listeners. */
  received(frame: TopicFrame): void {
    // Unsubscribed by the app, and still arriving until the hub answers: dropped.
    if (this.unanswered.some((request) => request.topic === frame.topic && request.from === undefined)) return
    const info: TopicMessageInfo = { topic: frame.topic, time: frame.time }
    if (frame.seq !== undefined) {
      info.id = frame.id!
      info.seq = frame.seq
    }
    // A stored message its subscription has had already (it resumed after it) is not news.
    if (this.subscriptions.get(frame.topic)?.deliver(frame.data, info) === false) return
    this.client.topicMessage({ ...info, data: frame.data })
  }

  /** The hub's answer to a request, or word of a change the backend made. */
  answered(frame: TopicReply | TopicRefused): void {
    if (frame.type === 'unsubscribed' && !this.unanswered.some((request) => request.topic === frame.topic && request.from === undefined)) {
      return this.unsubscribedByHub(frame.topic)
    }
    const request = this.takeRequest(frame)
    const subscription = request?.from
    if (subscription === undefined || this.subscriptions.get(subscription.topic) !== subscription) return
    subscription.answered(frame)
  }

  /**
   * The backend unsubscribed the connection (the hub tells it as if it had asked): a
   * confirmed subscription of the topic is over, and not asked for again on a reconnect.
   */
  private unsubscribedByHub(topic: string): void {
    const subscription = this.subscriptions.get(topic)
    if (subscription === undefined || subscription.state !== 'subscribed') return
    this.subscriptions.delete(topic)
    subscription.endedByHub()
  }

  /** The unanswered request `frame` answers, taken off the list; undefined when none. */
  private takeRequest(frame: TopicReply | TopicRefused): Unanswered | undefined {
    if (frame.type === 'unsubscribed') {
      const at = this.unanswered.findIndex((request) => request.topic === frame.topic && request.from === undefined)
      if (at === -1) return undefined
      // Subscribes of the topic sent before the unsubscribe and unanswered so far never
      // will be: the hub drops one still being authorized, the client's last word wins.
      this.unanswered = this.unanswered.filter((request, i) => i > at || request.topic !== frame.topic)
      return undefined
    }
    // An invalid name comes back empty; see the top of this file.
    const topic = frame.type === 'error' && frame.topic === '' ? this.longestUnanswered() : frame.topic
    const anyKind = frame.topic === ''
    const at = this.unanswered.findIndex((request) => request.topic === topic && (anyKind || request.from !== undefined))
    if (at === -1) return undefined
    return this.unanswered.splice(at, 1)[0]
  }

  private longestUnanswered(): string | undefined {
    let longest: string | undefined
    for (const { topic } of this.unanswered) if (longest === undefined || topic.length > longest.length) longest = topic
    return longest
  }

  private forget(subscription: Subscription, wasSubscribed: boolean): void {
    this.subscriptions.delete(subscription.topic)
    const link = this.link
    if (link === undefined) return
    // Also when the answer is still to come: the hub may yet confirm it.
    const asked = this.unanswered.some((request) => request.from === subscription)
    if (!wasSubscribed && !asked) return
    this.unanswered.push({ topic: subscription.topic, from: undefined })
    link.send(unsubscribeFrame(subscription.topic))
  }
}
