// A topic's recent messages, kept so that a subscriber that was away can catch up. A
// publish with a time to live is appended here first: it gets a seq, its place in its
// topic's stream (ascending, contiguous, never reused: the first is firstSeq(now), as
// for a user's stream), and is kept until its time to live runs out or the topic has
// more than `maxPerTopic` messages kept (the oldest go first). Unlike a user's
// messages, topic messages are never acknowledged: many clients read them.
//
// A subscriber that saw seq N asks for what came after it; whether that is whole tells
// it if it missed something the history no longer holds (lib/topics/recovery.ts).

export interface NewTopicMessage {
  topic: string
  data: string
  ttlMs: number
}

export interface TopicMessage {
  id: string
  topic: string
  seq: number
  data: string
  /** When it was stored, in ms since the epoch. */
  createdAt: number
  expiresAt: number
}

/** What a topic's history holds after a seq. */
export interface TopicHistoryPage {
  /** Kept, unexpired messages with a seq above the one asked, oldest first, at most the limit asked. */
  messages: TopicMessage[]
  /** The seq of the last message ever stored for the topic (0 for none), read with the page. */
  lastSeq: number
  /** The seq of the first message ever stored for the topic (0 for none): no seq below it existed. */
  firstSeq: number
}

/** Counted since start, for the metrics. */
export interface TopicHistoryStats {
  stored: number
  /** Removed before their time to live ran out: their topic kept maxPerTopic newer ones. */
  trimmed: number
}

export interface TopicHistoryOptions {
  /** Messages kept per topic; the oldest beyond it are removed at the append that passes it. */
  maxPerTopic: number
}

/**
 * maxPerTopic when the configuration does not say (PUSHER_TOPIC_HISTORY_SIZE): enough for
 * a client back from a short outage to catch up on a busy topic, while a topic's history
 * stays small (at the largest default message size, 100 × 64 KiB = 6.4 MiB).
 */
export const DEFAULT_TOPIC_HISTORY_SIZE = 100
/** The most a configuration may keep per topic. */
export const MAX_TOPIC_HISTORY_SIZE = 100_000

/**
 * How long a topic's seqs outlive its newest message's expiry: 30 days, in ms. Within it
 * a client that resumes with a seq of the topic is not handed that seq again for another
 * message; after it the topic starts again at firstSeq(now), above every seq it had.
 */
export const SEQ_KEPT_AFTER_MS = 2_592_000_000

export interface TopicHistory {
  readonly stats: TopicHistoryStats
  /**
   * Stores messages in order, assigning ids and per-topic seqs, and resolves once they
   * are durable. Concurrent appends to one topic get seqs in the order they were called.
   * Rejects with PusherError.INVALID_TOPIC, storing none of them, if a topic name is not
   * valid (lib/topics/name-rule.ts): the name becomes part of a Redis key.
   */
  append(messages: NewTopicMessage[], now?: number): Promise<TopicMessage[]>
  /** The kept messages of `topic` after `afterSeq`, and its last seq. */
  after(topic: string, afterSeq: number, limit: number, now?: number): Promise<TopicHistoryPage>
  /** Removes messages past their time to live; resolves with how many. */
  sweep(now?: number): Promise<number>
}

