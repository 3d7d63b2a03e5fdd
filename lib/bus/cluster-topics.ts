// Topics across the cluster, for the Redis bus. A node listens to a topic's channel only
// while it has subscribers to it, so a publish reaches only those nodes, and its cost
// does not grow with the nodes that have none: one PUBLISH (and the counts read in the
// same script) whatever the cluster's size. Each node keeps its counts per topic in
// Redis (lib/redis/topics.ts), so that publishes and GET /topics/:topic can say how many
// connections they reach. The backend's subscribe of a user goes to the nodes that hold
// the user (from presence), and each answers what it changed.
import type { Redis } from 'ioredis'
import { PusherError } from '../errors.js'
import type { Hub } from '../hub/hub.js'
import type { RedisPresence } from '../redis/presence.js'
import { RedisTopics, type TopicHolders } from '../redis/topics.js'
import { TurnWrites } from '../redis/turn-writes.js'
import type { Delivery, PublishBatchDelivery, TopicChangeResult, TopicInfo } from './bus.js'
import type { MessageMeta } from '../hub/envelope.js'
import type { TopicMessageOut } from '../store/durable-publish.js'
import { encodePublish, encodeTopicAnswer, encodeTopicChange, type TopicChangeAnswer, type TopicChangeRequest } from './relay-codec.js'

/** How long a topic change waits for the other nodes' answers before it answers with what it has (partial). */
const ANSWER_TIMEOUT_MS = 2000

export interface ClusterTopicsOwner {
  hub: Hub
  nodeId: string
  prefix: string
  commands: Redis
  /** The connection that listens: topic channels are subscribed on it. */
  subscriber: Redis
  presence: RedisPresence
  /** Nodes whose lease holds, as of the last renewal; empty before the first. */
  liveNodes(): ReadonlySet<string>
  /** Publishes to one node's relay channel; true if it was received. */
  publishTo(node: string, payload: Buffer): Promise<boolean>
  /** Publish outcomes, for the metrics. */
  counts: { delivered: number; no_subscribers: number; unavailable: number }
  warn(message: string): void
}

interface AwaitedAnswers {
  answers: TopicChangeAnswer[]
  /** Set once the requests are out: how many nodes received one. */
  expected: number | undefined
  done: () => void
}

export class ClusterTopics {
  private readonly kept: RedisTopics
  /** This node's counts per topic in Redis, written once per turn with what changed in it. */
  private readonly countWrites: TurnWrites
  /** The latest SUBSCRIBE or UNSUBSCRIBE of a topic channel; the subscriber answers them in order. */
  private listened: Promise<unknown> = Promise.resolve()
  private readonly awaiting = new Map<number, AwaitedAnswers>()
  private nextRequest = 1

  constructor(private readonly owner: ClusterTopicsOwner) {
    this.kept = new RedisTopics(owner.commands, owner.prefix, owner.nodeId)
    this.countWrites = new TurnWrites({
      what: 'topic counts',
      write: (topics) => this.kept.write(topics.map((topic) => [topic, ...counts(owner.hub, topic)])),
      rewrite: async () => {
        await this.kept.reap(owner.nodeId)
        await this.kept.write([...owner.hub.topics()].map((topic) => [topic, ...counts(owner.hub, topic)]))
      },
      canWrite: () => owner.commands.status === 'ready',
      warn: owner.warn,
    })
    const { hub, subscriber } = owner
    hub.on('topicOpen', (topic) => {
      this.listened = subscriber.subscribe(this.kept.channel(topic)).catch((error: Error) => owner.warn(`could not listen to topic ${topic}: ${error.message}`))
    })
    hub.on('topicClose', (topic) => {
      this.listened = subscriber.unsubscribe(this.kept.channel(topic)).catch(() => {})
      this.countWrites.mark(topic)
    })
    hub.on('topicChange', (topic) => this.countWrites.mark(topic))
  }

  /** Resolves once this node listens to the topics it has subscribers to, and their counts are written to Redis (or either failed). */
  async settled(): Promise<void> {
    await this.listening()
    await this.countWrites.settled()
  }

  /**
   * Resolves once this node listens to the topics it has subscribers to (or the SUBSCRIBE
   * failed). A publish reaches a topic's channel whatever the counts say (they are for
   * answers and GET /topics), so this is all a subscriber's history read must wait for.
   */
  async listening(): Promise<void> {
    await this.listened
  }

  /**
   * Redis first, then this node: a publish Redis refused reached no one, so the sender
   * may retry it without anyone getting it twice (as for broadcasts).
   */
  async publish(topic: string, message: string): Promise<Delivery> {
    const [delivery] = (await this.publishAll([{ topic, message }])).results
    return { delivered: delivery!.delivered, nodes: delivery!.nodes }
  }

  async publishBatch(messages: TopicMessageOut[]): Promise<PublishBatchDelivery> {
    return this.publishAll(messages)
  }

  /** Subscribes the user's connections here, and asks every other node holding the user to do the same. */
  async change(uid: string, subscribe: string[], unsubscribe: string[]): Promise<TopicChangeResult> {
    const { hub, nodeId, presence } = this.owner
    const local = hub.changeTopics(uid, subscribe, unsubscribe)
    const result: TopicChangeResult = { uid, ...local, nodes: local.connections > 0 ? 1 : 0 }
    let holders: Record<string, string>
    try {
      holders = await presence.holders(uid)
    } catch {
      if (local.connections > 0) return { ...result, partial: true }
      throw new PusherError.CLUSTER_UNAVAILABLE()
    }
    const live = this.owner.liveNodes()
    const others = Object.keys(holders).filter((node) => node !== nodeId && (live.size === 0 || live.has(node)))
    if (others.length === 0) return result
    const id = this.nextRequest++
    const payload = encodeTopicChange({ origin: nodeId, id, uid, subscribe, unsubscribe })
    let answered!: () => void
    const waiting: AwaitedAnswers = { answers: [], expected: undefined, done: () => answered() }
    const allAnswered = new Promise<void>((resolve) => (answered = resolve))
    this.awaiting.set(id, waiting)
    let partial = false
    try {
      const received = await Promise.all(others.map((node) => this.owner.publishTo(node, payload).catch(() => {
        partial = true
        return false
      })))
      waiting.expected = received.filter(Boolean).length
      if (waiting.answers.length >= waiting.expected) answered()
      const timer = setTimeout(() => {
        partial = true
        answered()
      }, ANSWER_TIMEOUT_MS)
      await allAnswered
      clearTimeout(timer)
    } finally {
      this.awaiting.delete(id)
    }
    for (const answer of waiting.answers) {
      if (answer.connections === 0) continue
      result.connections += answer.connections
      result.subscribed += answer.subscribed
      result.unsubscribed += answer.unsubscribed
      result.refused += answer.refused
      result.nodes++
    }
    if (partial && result.connections === 0) throw new PusherError.CLUSTER_UNAVAILABLE()
    return partial ? { ...result, partial: true } : result
  }

  /** Who watches `topic`: this node counted live, the others as they last wrote it. */
  async info(topic: string): Promise<TopicInfo> {
    let holders: TopicHolders
    try {
      holders = await this.kept.holders(topic)
    } catch {
      throw new PusherError.CLUSTER_UNAVAILABLE()
    }
    const { subscribers, users } = this.owner.hub.topicSubscribers(topic)
    const info: TopicInfo = { topic, subscribers, users, nodes: subscribers > 0 ? 1 : 0 }
    for (const [, counts] of this.othersOf(holders)) {
      info.subscribers += counts.subscribers
      info.users += counts.users
      info.nodes++
    }
    return info
  }

  /** A publish from another node (this node's own were delivered already). */
  onPublish(origin: string, topic: string, message: Buffer, meta: MessageMeta | undefined): void {
    if (origin !== this.owner.nodeId) this.owner.hub.publish(topic, message, meta)
  }

  /** Another node asks this one to change a user's topics: done, and answered. */
  onChange(request: TopicChangeRequest): void {
    if (request.origin === this.owner.nodeId) return
    const change = this.owner.hub.changeTopics(request.uid, request.subscribe, request.unsubscribe)
    this.owner.publishTo(request.origin, encodeTopicAnswer({ id: request.id, ...change }))
      .catch((error: Error) => this.owner.warn(`could not answer a topic change to node ${request.origin}: ${error.message}`))
  }

  onAnswer(answer: TopicChangeAnswer): void {
    const waiting = this.awaiting.get(answer.id)
    if (waiting === undefined) return
    waiting.answers.push(answer)
    if (waiting.expected !== undefined && waiting.answers.length >= waiting.expected) waiting.done()
  }

  /** At a lease renewal: writes every count again if the node rejoined or Redis may have lost or missed some. */
  renew(rejoined: boolean): Promise<void> {
    return this.countWrites.renew(rejoined)
  }

  /** A renewal failed: every count is written again at the next. */
  markStale(): void {
    this.countWrites.markStale()
  }

  /** Removes a dead node's counts. */
  reap(node: string): Promise<number> {
    return this.kept.reap(node)
  }

  private async publishAll(messages: TopicMessageOut[]): Promise<PublishBatchDelivery> {
    const { hub, nodeId } = this.owner
    let published: Array<{ receivers: number; holders: TopicHolders }>
    try {
      // Sent together: ioredis pipelines the commands of one turn into one round trip.
      published = await Promise.all(messages.map(({ topic, message, meta }) => this.kept.publish(topic, encodePublish(nodeId, topic, message, meta))))
    } catch {
      this.owner.counts.unavailable += messages.length
      throw new PusherError.CLUSTER_UNAVAILABLE()
    }
    let delivered = 0
    const results = messages.map(({ topic, message, meta }, i) => {
      const { receivers, holders } = published[i]!
      // This node hears its own publish while it has subscribers; the rest were other nodes.
      const listeningHere = hub.topicSubscribers(topic).subscribers > 0 ? 1 : 0
      const local = hub.publish(topic, message, meta)
      let reached = local
      let nodes = local > 0 ? 1 : 0
      if (receivers - listeningHere > 0) {
        for (const [, { subscribers }] of this.othersOf(holders)) {
          reached += subscribers
          nodes++
        }
      }
      if (reached > 0) this.owner.counts.delivered++
      else this.owner.counts.no_subscribers++
      delivered += reached
      return { topic, delivered: reached, nodes }
    })
    return { delivered, results }
  }

  /** Other live nodes with subscribers, from a topic's holders. */
  private *othersOf(holders: TopicHolders): IterableIterator<[string, { subscribers: number; users: number }]> {
    const live = this.owner.liveNodes()
    for (const [node, counts] of holders) {
      if (node === this.owner.nodeId || (live.size > 0 && !live.has(node)) || counts.subscribers <= 0) continue
      yield [node, counts]
    }
  }
}

function counts(hub: Hub, topic: string): [subscribers: number, users: number] {
  const { subscribers, users } = hub.topicSubscribers(topic)
  return [subscribers, users]
}
