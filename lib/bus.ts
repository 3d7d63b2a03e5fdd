// How a send reaches every connection of its user, wherever they are. One node: the
// in-process MemoryBus (bus-memory.ts) hands everything to the local hub. Several
// nodes: the RedisBus (bus-redis.ts) also relays to the nodes that hold the user,
// found through presence kept in Redis. The routes and embedders talk to this
// interface only (the way centrifuge keeps broker.go beside its engines).

import type { MessageMeta } from './envelope.js'

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
}

export interface BatchDelivery {
  /** Connections over all messages. */
  delivered: number
  /** Messages whose user had no connection anywhere. */
  offline: number
  results: Array<{ uid: string; delivered: number }>
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
  readonly stats: BusStats
  send(uid: string, message: string, meta?: MessageMeta): Delivery | Promise<Delivery>
  sendBatch(messages: OutgoingMessage[]): BatchDelivery | Promise<BatchDelivery>
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
  readonly nodeId: string
  readonly redisUp: boolean
  readonly relay: RelayStats
  /** Resolves once the presence changes made so far (connects, disconnects) are written to Redis, or failed. */
  presenceSettled(): Promise<void>
}

export function isClusterBus(bus: Bus): bus is ClusterBus {
  return 'relay' in bus
}

export function newBusStats(): BusStats {
  return { messagesDelivered: 0, messagesOffline: 0, messagesUnavailable: 0, broadcasts: 0 }
}
