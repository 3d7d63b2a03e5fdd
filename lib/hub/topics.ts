// Who watches which topic on this node: for each topic its subscribed connections and
// how many of them each user holds, and on each connection its own topics, so that a
// connection that ends leaves all of them at once. The owner hears when a topic gains
// its first subscriber here, when its counts change, and when it loses its last: the
// cluster bus listens to a topic's channel only in between, and publishes the counts.
import type { Connection } from './connection.js'

export interface TopicIndexOwner {
  /** `topic` has its first subscriber on this node. */
  opened(topic: string): void
  /** `topic` gained or lost a subscriber here (after opened, before closed). */
  changed(topic: string): void
  /** `topic` has no subscriber left on this node. */
  closed(topic: string): void
}

interface Watchers {
  connections: Set<Connection>
  /** Connections watching it, by user: `users.size` is how many users watch. */
  users: Map<string, number>
}

export class TopicIndex {
  private readonly byTopic = new Map<string, Watchers>()
  /** Subscriptions on this node: one per connection and topic. */
  subscriptions = 0

  constructor(private readonly owner: TopicIndexOwner) {}

  /** Topics with at least one subscriber on this node. */
  get topicCount(): number {
    return this.byTopic.size
  }

  subscribersOf(topic: string): ReadonlySet<Connection> | undefined {
    return this.byTopic.get(topic)?.connections
  }

  /** Subscribed connections of `topic` here, and the users they belong to. */
  countsOf(topic: string): { subscribers: number; users: number } {
    const watchers = this.byTopic.get(topic)
    return watchers === undefined ? { subscribers: 0, users: 0 } : { subscribers: watchers.connections.size, users: watchers.users.size }
  }

  /** Every topic with subscribers here. */
  topics(): IterableIterator<string> {
    return this.byTopic.keys()
  }

  /** Subscribes; false when the connection already was. */
  add(connection: Connection, topic: string): boolean {
    const own = (connection.topics ??= new Set())
    if (own.has(topic)) return false
    own.add(topic)
    this.subscriptions++
    let watchers = this.byTopic.get(topic)
    const opened = watchers === undefined
    if (watchers === undefined) this.byTopic.set(topic, (watchers = { connections: new Set(), users: new Map() }))
    watchers.connections.add(connection)
    watchers.users.set(connection.uid, (watchers.users.get(connection.uid) ?? 0) + 1)
    if (opened) this.owner.opened(topic)
    this.owner.changed(topic)
    return true
  }

  /** Unsubscribes; false when the connection was not subscribed. */
  remove(connection: Connection, topic: string): boolean {
    if (connection.topics?.delete(topic) !== true) return false
    this.subscriptions--
    const watchers = this.byTopic.get(topic)
    if (watchers === undefined || !watchers.connections.delete(connection)) return true
    const held = watchers.users.get(connection.uid) ?? 1
    if (held > 1) watchers.users.set(connection.uid, held - 1)
    else watchers.users.delete(connection.uid)
    if (watchers.connections.size > 0) {
      this.owner.changed(topic)
      return true
    }
    this.byTopic.delete(topic)
    this.owner.closed(topic)
    return true
  }

  /** Takes an ending connection out of every topic it watched. */
  removeAll(connection: Connection): void {
    const own = connection.topics
    if (own === null) return
    for (const topic of [...own]) this.remove(connection, topic)
    connection.topics = null
  }
}
