// The hub's options, counters and events: what embedders and the plugins see of it.
import type { Connection, DisconnectReason } from './connection.js'

export interface HubOptions {
  /** Unsent bytes a connection may hold before it is cut off as a slow consumer. */
  maxBufferedBytes: number
  /** How often to ping every connection; 0 turns the heartbeat off. */
  heartbeatIntervalMs: number
  /** How long a pinged connection has to answer before it is dropped. */
  heartbeatTimeoutMs: number
  /** How long a cut-off connection gets to read its close frame before the socket is destroyed. */
  closeGraceMs?: number
  /**
   * Frames (data and pings) a client may send per second on average, with bursts of ten
   * seconds' worth; a client past it is closed with 1008. 0 or absent: no limit.
   */
  maxInboundFramesPerSecond?: number
  /** Topics one connection may watch (default 100). */
  maxTopicsPerConnection?: number
  /** Longest topic name (default 200). */
  maxTopicLength?: number
  /** Subscribe requests a framed client may send per second on average, in bursts of up to 100 (default 10; 0: no limit). */
  maxSubscribesPerSecond?: number
}

/** Why a topic subscription was refused; also the `reason` label of pusher_refused_total. */
export type TopicRefusal =
  | 'topic_invalid' // not a valid topic name
  | 'topic_forbidden' // no valid topic token, or the authorizeTopic hook said no
  | 'topic_limit' // the connection watches maxTopicsPerConnection topics already
  | 'topic_rate' // subscribe requests faster than maxSubscribesPerSecond

/**
 * Decides whether a framed client's user may watch `topic`: from the topic token it
 * sent (a JWT with its uid and the topic, signed with the hub's key), or by the
 * backend's own rules (the authorizeTopic hook). Returns or resolves to true to allow;
 * false, a throw or a rejection refuse.
 */
export type TopicAuthorizer = (request: { uid: string; topic: string; token: string | undefined }) => boolean | Promise<boolean>

/** What a subscribe or unsubscribe by the backend changed on this node. */
export interface TopicChange {
  /** The user's open connections here. */
  connections: number
  /** New subscriptions made (one per connection and topic). */
  subscribed: number
  /** Subscriptions ended. */
  unsubscribed: number
  /** Subscriptions not made: the connection watched maxTopicsPerConnection topics already. */
  refused: number
}

/** Counters kept as plain numbers on the hot path; the metrics plugin reads them at scrape time. */
export interface HubStats {
  connectionsOpened: number
  disconnects: Record<DisconnectReason, number>
  /** Frames whose write completed. */
  framesWritten: number
  /** Frames whose write failed because the socket went away under them. */
  framesFailed: number
  /** In-band token refreshes of framed clients: taken, or refused (the connection closed with 4005). */
  refreshes: { ok: number; refused: number }
  /** Topic messages: publishes handed to this hub, and the connections they were written to. */
  /** Publishes heard, connections they were written to, stored messages written from topic histories (catch-ups). */
  topics: { publishes: number; delivered: number; replayed: number }
}

/**
 * What the new token of an in-band refresh proves: its user, and when it expires and was
 * issued, in ms since the epoch (0: never, unknown).
 */
export interface RefreshedCredentials {
  uid: string
  expiresAt: number
  issuedAt: number
}

/**
 * Checks the token a framed client sent to refresh its connection, as strictly as a
 * connecting client's: returns (or resolves to) what it proves, or throws (rejects) to
 * refuse it. An error's `reason` (a short label such as `expired`) goes into the close reason.
 */
export type RefreshVerifier = (token: string) => RefreshedCredentials | Promise<RefreshedCredentials>

export interface HubEvents {
  connect: [connection: Connection]
  disconnect: [connection: Connection, reason: DisconnectReason]
  /** A framed client acknowledged every message of its user up to `seq`. */
  ack: [connection: Connection, seq: number]
  /**
   * A durable message reached a framed connection ahead of one before it (sent through
   * another node, or whose relay failed): the hub holds the connection's live messages
   * until release(), and the listener replays what is missing from the store.
   */
  gap: [connection: Connection]
  /** `topic` has its first subscriber on this hub: the cluster bus starts listening to it. */
  topicOpen: [topic: string]
  /** `topic` gained or lost a subscriber on this hub (between topicOpen and topicClose). */
  topicChange: [topic: string]
  /** `topic` has no subscriber left on this hub. */
  topicClose: [topic: string]
  /** A framed client's subscribe was refused (it got an error frame and stays connected). */
  topicRefused: [connection: Connection, topic: string, reason: TopicRefusal]
}
