// A framed client's own subscriptions: `{"type":"subscribe","topic","token"}` and
// `{"type":"unsubscribe","topic"}`. A subscribe is allowed by the authorizer the auth
// plugin gives the hub (a topic token signed with the hub's key, or the backend's
// authorizeTopic hook), within the per-connection limits. Every answer is a frame; a
// refusal never closes the connection, since one bad topic should not cost the others.
import type { Connection } from './connection.js'
import { topicErrorFrame, topicReplyFrame, type Subscribe, type Unsubscribe } from './envelope.js'
import type { TopicAuthorizer, TopicRefusal } from './hub-types.js'
import type { OpenedStream } from './topic-streams.js'
import { topicProblem } from '../topics/name.js'

export interface TopicRequestsOwner {
  readonly maxTopicLength: number
  readonly maxTopicsPerConnection: number
  /** The authorizer in force; undefined: no subscribe can be allowed. */
  authorizer(): TopicAuthorizer | undefined
  subscribe(connection: Connection, topic: string): 'subscribed' | 'already' | 'too_many'
  /**
   * Opens the connection's place in the topic's stored stream, at `since` or at the
   * topic's last seq (topic-streams.ts); undefined when no history is kept.
   */
  open(connection: Connection, topic: string, since: number | undefined): Promise<OpenedStream> | undefined
  unsubscribe(connection: Connection, topic: string): boolean
  /** Writes a text frame to the connection. */
  reply(connection: Connection, frame: string): void
  /** A refusal, for the counts and the (summarised) log. */
  refused(connection: Connection, topic: string, reason: TopicRefusal): void
}

const FORBIDDEN = 'not allowed to watch this topic: send a topic token (a JWT with this user\'s uid and the topic) signed by the backend'

export class TopicRequests {
  /** Subscribes an asynchronous authorizer is still deciding, by connection: each topic's request that stands. */
  private readonly deciding = new WeakMap<Connection, Map<string, object>>()

  constructor(private readonly owner: TopicRequestsOwner) {}

  take(connection: Connection, request: Subscribe | Unsubscribe): void {
    const { topic } = request
    const problem = topicProblem(topic, this.owner.maxTopicLength)
    if (problem !== undefined) return this.refuse(connection, topic, 'topic_invalid', problem)
    if (request.type === 'unsubscribe') {
      this.deciding.get(connection)?.delete(topic)
      this.owner.unsubscribe(connection, topic)
      return this.owner.reply(connection, topicReplyFrame(topic, false))
    }
    if (!connection.takeSubscribe()) return this.refuse(connection, topic, 'topic_rate', 'too many subscribe requests: slow down and retry')
    if (connection.topics?.has(topic) === true) return this.answer(connection, topic, request.since)
    if (this.deciding.get(connection)?.has(topic) === true) return
    // Refused before any verification work when it could not be kept anyway.
    // Those still being decided count too: an authorizer that never answers cannot make
    // the hub hold more requests per connection than it would hold subscriptions.
    const held = (connection.topics?.size ?? 0) + (this.deciding.get(connection)?.size ?? 0)
    if (held >= this.owner.maxTopicsPerConnection) return this.refuseLimit(connection, topic)
    const authorize = this.owner.authorizer()
    if (authorize === undefined) return this.refuse(connection, topic, 'topic_forbidden', FORBIDDEN)
    let allowed: boolean | Promise<boolean>
    try {
      allowed = authorize({ uid: connection.uid, topic, token: request.token })
    } catch {
      return this.refuse(connection, topic, 'topic_forbidden', FORBIDDEN)
    }
    // Only true allows, as for a promise below: a hook answering a truthy row or message is not a yes.
    if (!(allowed instanceof Promise)) return this.decide(connection, topic, allowed === true, request.since)
    let deciding = this.deciding.get(connection)
    if (deciding === undefined) this.deciding.set(connection, (deciding = new Map()))
    const pending = {}
    deciding.set(topic, pending)
    const settle = (verdict: boolean) => {
      // Unsubscribed while the authorizer decided (and maybe asked again since, with
      // another token): the client withdrew this request, and only the one that stands
      // may answer.
      if (deciding.get(topic) !== pending) return
      deciding.delete(topic)
      this.decide(connection, topic, verdict, request.since)
    }
    allowed.then((verdict) => settle(verdict === true), () => settle(false))
  }

  private decide(connection: Connection, topic: string, allowed: boolean, since: number | undefined): void {
    if (connection.ended || connection.endReason !== undefined) return
    if (!allowed) return this.refuse(connection, topic, 'topic_forbidden', FORBIDDEN)
    if (this.owner.subscribe(connection, topic) === 'too_many') return this.refuseLimit(connection, topic)
    this.answer(connection, topic, since)
  }

  /**
   * Says `subscribed`: at once without a history, or once the client's place in the
   * topic's stream is open (and, with `since`, what it missed is written), with its seq.
   */
  private answer(connection: Connection, topic: string, since: number | undefined): void {
    const opening = this.owner.open(connection, topic, since)
    if (opening === undefined) return this.owner.reply(connection, topicReplyFrame(topic, true))
    opening.then((opened) => {
      if (connection.topics?.has(topic) === true) this.owner.reply(connection, topicReplyFrame(topic, true, opened))
    })
  }

  private refuseLimit(connection: Connection, topic: string): void {
    this.refuse(connection, topic, 'topic_limit', `at most ${this.owner.maxTopicsPerConnection} topics per connection (PUSHER_MAX_TOPICS_PER_CONNECTION): unsubscribe from one first`)
  }

  private refuse(connection: Connection, topic: string, reason: TopicRefusal, message: string): void {
    this.owner.refused(connection, topic, reason)
    // The name goes back only when it is one: an invalid one could be anything, of any size.
    this.owner.reply(connection, topicErrorFrame(reason === 'topic_invalid' ? '' : topic, reason, message))
  }
}
