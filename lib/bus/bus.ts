// How a send reaches every connection of its user, wherever they are. One node: the
// in-process MemoryBus (memory.ts) hands everything to the local hub. Several
// nodes: the RedisBus (redis.ts) also relays to the nodes that hold the user,
// found through presence kept in Redis. The routes and embedders talk to this
// interface only (the way centrifuge keeps broker.go beside its engines).

import type { Redis } from 'ioredis'
import type { BatchMessage, PublishMessage, PublishOptions, SendOptions } from './base.js'
import type { Revocations } from '../auth/revocations.js'
import type { DurableSettings } from '../store/durable-send.js'
import type { MessageMeta } from '../hub/envelope.js'

export type { BatchMessage, PublishMessage, PublishOptions, SendOptions } from './base.js'

export interface OutgoingMessage {
  uid: string
  message: string
  /** Set for a durable message: framed clients get its id and seq. */
  meta?: MessageMeta
}

/** What a send was handed to: connections written (here) or relayed to (elsewhere), and on how many nodes. */
export interface Delivery {
  delivered: number
  nodes: number
  /** Set when Redis could not be reached: only this node's connections were served. */
  partial?: true
  /** Durable sends: the message's id (GET /messages/:id), its seq, and whether it was delivered or waits queued. */
  id?: string
  seq?: number
  status?: 'delivered' | 'queued'
}

export interface BatchDelivery {
  /** Connections over all messages. */
  delivered: number
  /** Messages whose user had no connection anywhere. */
  offline: number
  /** In request order; durable items also carry id, seq and status. */
  results: Array<{ uid: string; delivered: number; id?: string; seq?: number; status?: 'delivered' | 'queued' }>
  partial?: true
}

/** What a publish to topics reached: per topic, in request order. */
export interface PublishBatchDelivery {
  /** Connections over all messages, on every node. */
  delivered: number
  /** In request order; messages kept in their topic's history also carry its id and seq. */
  results: Array<{ topic: string; delivered: number; nodes: number; id?: string; seq?: number }>
  partial?: true
}

/** What the backend's subscribe or unsubscribe of a user changed, on every node. */
export interface TopicChangeResult {
  uid: string
  /** The user's open connections it applied to. */
  connections: number
  /** New subscriptions (one per connection and topic). */
  subscribed: number
  /** Subscriptions ended. */
  unsubscribed: number
  /** Subscriptions not made: the connection watched PUSHER_MAX_TOPICS_PER_CONNECTION topics already. */
  refused: number
  /** Nodes holding at least one of those connections. */
  nodes: number
  /** Set when Redis could not be reached: only this node's connections were changed. */
  partial?: true
}

/** Who watches a topic, across the cluster. */
export interface TopicInfo {
  topic: string
  /** Subscribed connections, on every node. */
  subscribers: number
  /** Users those connections belong to (a user watching from two nodes counts on each). */
  users: number
  /** Nodes with at least one subscriber. */
  nodes: number
}

/** Sender-level outcomes, read by the metrics plugin at scrape time. */
export interface BusStats {
  /** Messages (unicast or batch items) handed to at least one connection. */
  messagesDelivered: number
  /** Messages whose user had no connection anywhere. */
  messagesOffline: number
  /** Messages refused because the cluster could not be reached (503). */
  messagesUnavailable: number
  broadcasts: number
  /** Session control asked of this node: users looked up, kicks, revocations. */
  sessions: { presence: number; disconnect: number; revoke: number }
  /** Publishes made through this node, by outcome: written to at least one subscriber, to none, refused (503). */
  publishes: { delivered: number; no_subscribers: number; unavailable: number }
}

/** Where a user is connected, across the cluster. */
export interface UserPresence {
  uid: string
  online: boolean
  /** Open connections of the user, on every node. */
  connections: number
  /** Nodes holding at least one of them. */
  nodes: number
}

/** What a kick closed: connections of the user, on how many nodes. */
export interface Disconnection {
  disconnected: number
  nodes: number
  /** Set when Redis could not be reached: only this node's connections were closed. */
  partial?: true
}

/** A revocation as recorded, and how many nodes applied it. */
export interface RevocationResult {
  uid: string
  /** Tokens of the user issued before this time (unix seconds) are refused and their connections closed. */
  before: number
  /** The cut is kept until this time (unix seconds): PUSHER_REVOCATION_TTL_S after it. */
  keptUntil: number
  /** Nodes that applied it: every node of the cluster that could be reached. */
  nodes: number
}

export interface ClusterView {
  nodes: number
  connections: number
  users: number
}

export interface Bus {
  /** True for a bus that joins nodes (a ClusterBus); false for the one-process bus. */
  readonly clustered: boolean
  readonly stats: BusStats
  /** To every connection of `uid`, on every node; with `ttl` or `durable`, stored first (see SendOptions). */
  send(uid: string, message: string, options?: SendOptions): Delivery | Promise<Delivery>
  /** Each message to its user; `options` (and each message's own `ttl`) as for send. */
  sendBatch(messages: BatchMessage[], options?: SendOptions): BatchDelivery | Promise<BatchDelivery>
  /** Stores what is sent with a time to live (the store plugin calls it). */
  useStore(settings: DurableSettings): void
  broadcast(message: string): Delivery | Promise<Delivery>
  /** The whole cluster as last seen (one node: this one). */
  cluster(): ClusterView
  /** Each user's connections across the cluster, in the order asked. */
  presenceOf(uids: string[]): UserPresence[] | Promise<UserPresence[]>
  /**
   * Closes every connection of `uid` on every node: with 4002 (the client may reconnect),
   * or with `reconnect: false`, 4003 (it must not). Connections still in their handshake
   * are not reached: to keep a user out, revoke their tokens too.
   */
  disconnect(uid: string, options?: { reconnect?: boolean }): Disconnection | Promise<Disconnection>
  /**
   * Revokes the tokens of `uid` issued before `beforeMs` (default now) on every node: they
   * are refused at connect (401, reason `revoked`) and their connections closed with 4004.
   */
  revoke(uid: string, options?: { beforeMs?: number }): RevocationResult | Promise<RevocationResult>
  /**
   * To every connection watching `topic`, on every node. A topic nobody watches is
   * `{ delivered: 0, nodes: 0 }`: normal for a topic, not an error.
   */
  publish(topic: string, message: string, options?: PublishOptions): Delivery | Promise<Delivery>
  /** Each message to its topic (with `ttl`, kept in its history first); on a cluster, one relay per topic. */
  publishBatch(messages: PublishMessage[], options?: PublishOptions): PublishBatchDelivery | Promise<PublishBatchDelivery>
  /**
   * Subscribes every open connection of `uid`, on every node, to `subscribe` and out of
   * `unsubscribe`. Applies to the connections open now: a later connection watches its
   * token's topics and what it subscribes to itself.
   */
  changeTopics(uid: string, change: { subscribe?: string[]; unsubscribe?: string[] }): TopicChangeResult | Promise<TopicChangeResult>
  /** Who watches `topic`, across the cluster. */
  topicInfo(topic: string): TopicInfo | Promise<TopicInfo>
  /** The revocations in force on this node, checked at every connect. */
  readonly revocations: Revocations
  /** Leaves the cluster: this node's presence is removed at once. */
  close(): Promise<void>
}

/** Counters of the Redis link, for the metrics. */
export interface RelayStats {
  /** Payloads published to other nodes (a batch to one node counts once). */
  relayedOut: number
  /** Payloads received from other nodes. */
  relayedIn: number
  /** Times the command connection to Redis had to reconnect. */
  reconnects: number
}

/** A bus that joins nodes: it also reports on its link to them. */
export interface ClusterBus extends Bus {
  readonly clustered: true
  readonly nodeId: string
  /** The command connection to Redis, which the Redis message store shares. */
  readonly redis: Redis
  readonly redisUp: boolean
  /**
   * True while this node can hear what other nodes relay to it: the subscriber connection
   * is ready, subscribed to this node's relay channel, and Redis, asked over the command
   * connection at the last lease renewal, lists a subscriber on that channel.
   */
  readonly subscriberUp: boolean
  readonly relay: RelayStats
  /** Resolves once the presence changes made so far (connects, disconnects) are written to Redis, or failed. */
  presenceSettled(): Promise<void>
  /** Resolves once the topic counts changed so far (subscribes, unsubscribes) are written to Redis, or failed. */
  topicsSettled(): Promise<void>
  /** Resolves once this node listens to the channel of every topic it has subscribers to, or failed to. */
  topicsListening(): Promise<void>
}

export function isClusterBus(bus: Bus): bus is ClusterBus {
  return bus.clustered
}

export function newBusStats(): BusStats {
  return {
    messagesDelivered: 0, messagesOffline: 0, messagesUnavailable: 0, broadcasts: 0,
    sessions: { presence: 0, disconnect: 0, revoke: 0 },
    publishes: { delivered: 0, no_subscribers: 0, unavailable: 0 },
  }
}
