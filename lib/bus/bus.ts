// How a send reaches every connection of its user, wherever they are. One node: the
// in-process MemoryBus (memory.ts) hands everything to the local hub. Several
// nodes: the RedisBus (redis.ts) also relays to the nodes that hold the user,
// found through presence kept in Redis. The routes and embedders talk to this
// interface only (the way centrifuge keeps broker.go beside its engines).

import type { Redis } from 'ioredis'
import type { BatchMessage, SendOptions } from './base.js'
import type { DurableSettings } from '../store/durable-send.js'
import type { MessageMeta } from '../hub/envelope.js'

export type { BatchMessage, SendOptions } from './base.js'

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

/** Sender-level outcomes, read by the metrics plugin at scrape time. */
export interface BusStats {
  /** Messages (unicast or batch items) handed to at least one connection. */
  messagesDelivered: number
  /** Messages whose user had no connection anywhere. */
  messagesOffline: number
  /** Messages refused because the cluster could not be reached (503). */
  messagesUnavailable: number
  broadcasts: number
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
}

export function isClusterBus(bus: Bus): bus is ClusterBus {
  return bus.clustered
}

export function newBusStats(): BusStats {
  return { messagesDelivered: 0, messagesOffline: 0, messagesUnavailable: 0, broadcasts: 0 }
}
