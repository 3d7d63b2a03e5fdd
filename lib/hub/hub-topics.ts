// The hub's topics: who watches what on this hub (topics.ts), a framed client's own
// requests (topic-requests.ts), the backend's changes to a user's topics, and publishing
// to a topic's subscribers. A part of the hub (hub.ts delegates to it), kept apart so
// that the hub's own file stays about connections and their writes.
import type { EventEmitter } from 'node:events'
import { performance } from 'node:perf_hooks'
import type { Connection } from './connection.js'
import { MessageFrames, type MessageMeta, type Subscribe, topicReplyFrame, type Unsubscribe } from './envelope.js'
import type { HubEvents, HubStats, TopicAuthorizer, TopicChange } from './hub-types.js'
import { TopicRequests } from './topic-requests.js'
import { type TopicHistoryReader, TopicStreams } from './topic-streams.js'
import { TopicIndex } from './topics.js'

export interface HubTopicsOwner {
  readonly maxTopicsPerConnection: number
  readonly maxTopicLength: number
  /** Counted here, read by the metrics. */
  readonly counts: HubStats['topics']
  /** Where topicOpen, topicChange, topicClose and topicRefused are told: the hub. */
  readonly events: Pick<EventEmitter<HubEvents>, 'emit'>
  /** The authorizer of framed clients' subscribes in force; undefined: none is allowed. */
  authorizer(): TopicAuthorizer | undefined
  /** Writes a control frame (an answer) to a connection. */
  reply(connection: Connection, text: string): void
  /** The time one publish took to reach every subscriber here, in seconds. */
  recordFanout(seconds: number): void
  /** Unsent bytes a topic stream's catch-up writes before it waits for the client to read them. */
  readonly replayRoom: number
}

export class HubTopics {
  readonly index: TopicIndex
  /** Framed subscribers' places in topics' stored streams (topic-streams.ts). */
  readonly streams: TopicStreams
  private readonly requests: TopicRequests

  constructor(private readonly owner: HubTopicsOwner) {
    const { events } = owner
    this.index = new TopicIndex({
      opened: (topic) => events.emit('topicOpen', topic),
      changed: (topic) => events.emit('topicChange', topic),
      closed: (topic) => events.emit('topicClose', topic),
    })
    this.streams = new TopicStreams({
      room: owner.replayRoom,
      replayed: (count) => (owner.counts.replayed += count),
    })
    this.requests = new TopicRequests({
      maxTopicLength: owner.maxTopicLength,
      maxTopicsPerConnection: owner.maxTopicsPerConnection,
      authorizer: () => owner.authorizer(),
      subscribe: (connection, topic) => this.subscribe(connection, topic),
      open: (connection, topic, since) => this.streams.open(connection, topic, since),
      unsubscribe: (connection, topic) => this.unsubscribe(connection, topic),
      reply: (connection, frame) => owner.reply(connection, frame),
      refused: (connection, topic, reason) => events.emit('topicRefused', connection, topic, reason),
    })
  }

  /** A framed client's subscribe or unsubscribe. */
  take(connection: Connection, request: Subscribe | Unsubscribe): void {
    this.requests.take(connection, request)
  }

  /** Reads topic histories with `reader`: framed subscribers can resume, and get stored messages in order. */
  useHistory(reader: TopicHistoryReader): void {
    this.streams.reader = reader
  }

  /** Stops `connection` watching `topic`, and forgets where it was in the topic's stream; false if it did not watch it. */
  unsubscribe(connection: Connection, topic: string): boolean {
    this.streams.forget(connection, topic)
    return this.index.remove(connection, topic)
  }

  subscribe(connection: Connection, topic: string): 'subscribed' | 'already' | 'too_many' {
    if (connection.ended || connection.topics?.has(topic) === true) return 'already'
    if ((connection.topics?.size ?? 0) >= this.owner.maxTopicsPerConnection) return 'too_many'
    this.index.add(connection, topic)
    return 'subscribed'
  }

  /** The backend's change of a user's topics, on `connections` (the user's, on this hub). */
  change(connections: Iterable<Connection>, subscribe: readonly string[], unsubscribe: readonly string[]): TopicChange {
    const change: TopicChange = { connections: 0, subscribed: 0, unsubscribed: 0, refused: 0 }
    for (const connection of connections) {
      if (connection.endReason !== undefined) continue
      change.connections++
      // A framed connection is told each change, as if it had asked, so that its client knows what it watches.
      const tell = (topic: string, subscribed: boolean) => {
        if (connection.framed) this.owner.reply(connection, topicReplyFrame(topic, subscribed))
      }
      for (const topic of unsubscribe) {
        if (!this.unsubscribe(connection, topic)) continue
        change.unsubscribed++
        tell(topic, false)
      }
      for (const topic of subscribe) {
        const outcome = this.subscribe(connection, topic)
        if (outcome === 'subscribed') {
          change.subscribed++
          tell(topic, true)
        } else if (outcome === 'too_many') change.refused++
      }
    }
    return change
  }

  /**
   * Writes `message` to every subscriber of `topic` here; `meta` marks a stored message
   * (framed clients get its seq, in order: topic-streams.ts). Returns how many took it.
   */
  publish(topic: string, message: string | Buffer, meta?: MessageMeta): number {
    this.owner.counts.publishes++
    const set = this.index.subscribersOf(topic)
    if (set === undefined) return 0
    const started = performance.now()
    const frames = new MessageFrames(message, meta, topic)
    const streams = this.streams
    let written = 0
    for (const connection of set) {
      // Plain clients, and framed ones with no stored message of any topic yet, take it as it comes.
      const followed = connection.framed && (meta !== undefined || connection.topicStreams !== null)
      if (followed ? streams.offer(connection, topic, frames, started) : connection.enqueue(frames.for(connection.framed), started)) written++
    }
    this.owner.counts.delivered += written
    this.owner.recordFanout((performance.now() - started) / 1000)
    return written
  }
}
