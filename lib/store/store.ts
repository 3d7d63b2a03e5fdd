// Where durable messages are kept until they are acknowledged or expire.
// One interface, one file per engine: SQLite (sqlite.ts, the embedded default)
// and, for cluster mode, Redis. A message gets an id (global) and a seq (its place in
// its user's stream, ascending and never reused, see firstSeq), so a client can
// acknowledge "everything up to seq" and resume "after seq".
import type { TopicHistory } from './topic-history.js'

export type MessageStatus =
  | 'queued' // stored, not yet written to any connection
  | 'delivered' // written to at least one connection, not acknowledged
  | 'acked' // a client confirmed it (or a later message)
  | 'expired' // its time to live ran out first, or the user's queue was full

export interface StoredMessage {
  id: string
  uid: string
  seq: number
  data: string
  createdAt: number
  expiresAt: number
  status: MessageStatus
  deliveredAt?: number
  ackedAt?: number
  expiredAt?: number
}

export interface NewMessage {
  uid: string
  data: string
  ttlMs: number
}

/** Transitions counted since start, for the metrics. */
export interface StoreStats {
  stored: number
  delivered: number
  acked: number
  expired: number
  /** Expired early because the user had more than maxPerUser messages kept. */
  dropped: number
  /** Written to a connection by a replay on connect (not counted by the engines: the store plugin counts them). */
  replayed: number
}

export interface StoreOptions {
  /** Messages kept per user that are neither acknowledged nor expired; the oldest beyond it expire. */
  maxPerUser: number
  /** How long an acknowledged or expired message stays readable by GET /messages/:id. */
  keepClosedMs: number
  /** Remember each message's time to be claimed by claimUnacked(), this long after it was stored; 0 or absent: not kept. */
  unackedAfterMs?: number
  /** Messages kept in each topic's history (see topic-history.ts); DEFAULT_TOPIC_HISTORY_SIZE if absent. */
  maxPerTopic?: number
}

/** A durable message as the webhooks describe it: where it is in its user's stream, and when things happened. */
export interface MessageNotice {
  id: string
  uid: string
  seq: number
  createdAt: number
  expiresAt: number
  /** Absent if it was never written to a connection. */
  deliveredAt?: number
}

/** A message that closed unacknowledged: its time to live ran out, or its user's queue was full. */
export interface ExpiredMessage extends MessageNotice {
  expiredAt: number
  reason: 'ttl' | 'queue_limit'
}

export interface MessageStore {
  readonly stats: StoreStats
  /** The topics' recent messages, kept where the users' messages are; sweep() sweeps them too. */
  readonly topics: TopicHistory
  /**
   * Stores messages in order, assigning ids and seqs; resolves once they are durable.
   * Rejects with PusherError.INVALID_UID, storing none of them, if a uid is not valid
   * (lib/uid.ts: a lone surrogate has no UTF-8 form; Redis would keep it as U+FFFD,
   * another user's uid, and SQLite reads it back as three U+FFFD).
   */
  append(messages: NewMessage[], now?: number): Promise<StoredMessage[]>
  /** Records that these messages were written to a connection (queued -> delivered). */
  markDelivered(ids: string[], now?: number): Promise<void>
  /** Acknowledges every open message of `uid` up to and including `seq`; resolves with how many. */
  ack(uid: string, seq: number, now?: number): Promise<number>
  /**
   * The seq of the last message ever stored for `uid` (0 for none). Read before open(),
   * it bounds what that read covers: every message up to it was stored before the read.
   */
  lastSeq(uid: string): Promise<number>
  /** Open (queued or delivered, unexpired) messages of `uid` after `afterSeq`, oldest first. */
  open(uid: string, afterSeq: number, limit: number, now?: number): Promise<StoredMessage[]>
  /** One message by id, while it is kept. */
  get(id: string, now?: number): Promise<StoredMessage | undefined>
  /**
   * Expires what outlived its TTL and forgets closed messages older than keepClosedMs;
   * sweeps the topic history too (its removals are not counted here).
   */
  sweep(now?: number): Promise<{ expired: number; forgotten: number }>
  /**
   * How many messages the store keeps, by status, as readers see them at `now` (see
   * asOf: an open message past its TTL counts as expired even before sweep() ran).
   * Acknowledged and expired messages count until sweep() forgets them. Cheap enough
   * to call at every metrics scrape.
   */
  countByStatus(now?: number): Promise<Record<MessageStatus, number>>
  /**
   * Writes a few bytes where the messages live and resolves once they are written, or
   * rejects with why they could not be (a read-only or full disk, Redis away): the
   * readiness check's probe. Touches no message, seq or count.
   */
  checkWritable(now?: number): Promise<void>
  close(): Promise<void>
  /**
   * Called with the messages a sweep() or an append() expired before they were
   * acknowledged, once each: in a shared store, only on the node whose call expired them.
   */
  onExpired?: ((messages: ExpiredMessage[]) => void) | undefined
  /**
   * With `unackedAfterMs`: the messages stored at least that long ago (by `now`) that are
   * still open (neither acknowledged nor expired), at most `limit`. Each is claimed once:
   * in a shared store, by the one caller whose claim took it.
   */
  claimUnacked?(limit: number, now?: number): Promise<MessageNotice[]>
}

/**
 * The seq of a user's first message: the time in ms times 1000, plus 1; later ones count
 * up from it. A store that was wiped (a deleted file, a Redis restarted without
 * persistence) so starts above every seq it handed out before, and clients that resume
 * after, or drop, what they have seen are not fooled into skipping new messages. Safe
 * integers until the year 2255, with room for a thousand messages per user per ms.
 */
export function firstSeq(now: number): number {
  return now * 1000 + 1
}

export function newStoreStats(): StoreStats {
  return { stored: 0, delivered: 0, acked: 0, expired: 0, dropped: 0, replayed: 0 }
}

/** A message as a reader sees it at `now`: an open one past its TTL reads as expired even before sweep() ran. */
export function asOf(message: StoredMessage, now: number): StoredMessage {
  if ((message.status === 'queued' || message.status === 'delivered') && message.expiresAt <= now) {
    return { ...message, status: 'expired', expiredAt: message.expiresAt }
  }
  return message
}
