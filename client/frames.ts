// The frames of the framed protocol (pusher.framed.v1) as the client sees them. The
// server writes them (lib/hub/envelope.ts); the client checks them rather than trusting
// them, so a proxy or a server bug shows up as an `error` event instead of a crash or
// a silently wrong lastSeq.

/** A message as the client emits it. `id` and `seq` are there for durable messages only. */
export interface PusherMessage {
  /** The text the sender sent. */
  data: string
  /** Durable: when the hub stored it; otherwise when the hub wrote it. Ms since the epoch. */
  time: number
  /** Durable messages: the id `POST /send` answered with (see `GET /messages/:id`). */
  id?: string
  /** Durable messages: the message's place in the user's stream; increases, may skip numbers. */
  seq?: number
}

/** The hub's answer to a refresh that took: the connection now lasts until `expiresAt` (ms since the epoch; null: for good). */
export interface Refreshed {
  type: 'refreshed'
  expiresAt: number | null
}

/** A message published to a topic the connection watches (topics.ts routes it). */
export interface TopicFrame {
  topic: string
  /** When the hub wrote it; for one kept in the topic's history, when it was stored. Ms since the epoch. */
  time: number
  data: string
  /** Published with a ttl (kept in the topic's history): its id and its place in the topic's stream. */
  id?: string
  seq?: number
}

/** The hub's answer to a subscribe that took, or to an unsubscribe. */
export interface TopicReply {
  type: 'subscribed' | 'unsubscribed'
  topic: string
  /** When the hub keeps topic history: the topic's seq the client is at, to resume after. */
  seq?: number
  /** For a subscribe with `since`: false when some of what came after it is no longer kept. */
  recovered?: boolean
}

/**
 * A subscribe the hub refused; the connection stays open. `topic` is empty when the
 * name was invalid (the hub does not echo what may not be a name).
 */
export interface TopicRefused {
  type: 'error'
  topic: string
  reason: string
  message: string
}

export type ServerFrame = PusherMessage | Refreshed | TopicFrame | TopicReply | TopicRefused

/** The frame in `text`: a message's envelope, a topic's message, an answer to a request; or the reason it is none of them. */
export function parseServerFrame(text: string): ServerFrame | { error: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { error: 'a frame from the server is not JSON' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'a frame from the server is not a JSON object' }
  const { data, time, id, seq, type, expiresAt, topic } = value as Record<string, unknown>
  if (type === 'refreshed') {
    if (expiresAt === null || (typeof expiresAt === 'number' && Number.isFinite(expiresAt))) return { type, expiresAt }
    return { error: 'a "refreshed" frame from the server has no numeric or null "expiresAt"' }
  }
  if (type === 'subscribed' || type === 'unsubscribed' || type === 'error') return parseTopicAnswer(value as Record<string, unknown>)
  if (type !== undefined) return { error: `a frame from the server has an unknown "type": ${JSON.stringify(type).slice(0, 40)}` }
  if (typeof data !== 'string') return { error: 'a frame from the server has no string "data"' }
  if (typeof time !== 'number' || !Number.isFinite(time)) return { error: 'a frame from the server has no numeric "time"' }
  // A topic's message is never part of the user's stream, whatever it carries: it is not
  // acked and does not move lastSeq. Its seq is its place in the topic's own stream.
  if (topic !== undefined) {
    if (typeof topic !== 'string' || topic === '') return { error: 'a topic frame from the server has no non-empty string "topic"' }
    if (id === undefined && seq === undefined) return { topic, time, data }
    if (typeof id !== 'string' || id === '' || !isSeq(seq)) return { error: 'a stored topic frame from the server has no string "id" and positive integer "seq"' }
    return { topic, time, data, id, seq }
  }
  if (id === undefined && seq === undefined) return { data, time }
  // A durable envelope must carry both: a seq without an id (or the reverse) is not one we can ack safely.
  if (typeof id !== 'string' || id === '') return { error: 'a durable frame from the server has no string "id"' }
  if (!isSeq(seq)) return { error: 'a durable frame from the server has no positive integer "seq"' }
  return { id, seq, time, data }
}

function isSeq(seq: unknown): seq is number {
  return Number.isSafeInteger(seq) && (seq as number) >= 1
}

function parseTopicAnswer(frame: Record<string, unknown>): TopicReply | TopicRefused | { error: string } {
  const { type, topic, reason, message, seq, recovered } = frame
  if (typeof topic !== 'string') return { error: `a "${String(type)}" frame from the server has no string "topic"` }
  if (type === 'unsubscribed') return { type, topic }
  if (type === 'subscribed') {
    const reply: TopicReply = { type, topic }
    // 0 is a place too: the topic has kept nothing yet, and everything stored later is after it.
    if (Number.isSafeInteger(seq) && (seq as number) >= 0) reply.seq = seq as number
    if (typeof recovered === 'boolean') reply.recovered = recovered
    return reply
  }
  if (typeof reason !== 'string' || typeof message !== 'string') return { error: 'an "error" frame from the server has no string "reason" and "message"' }
  return { type: 'error', topic, reason, message }
}

/** Everything of the user up to `seq` was received. */
export function ackFrame(seq: number): string {
  return JSON.stringify({ type: 'ack', seq })
}

/** New credentials for the open connection, before the ones it was opened with expire. */
export function refreshFrame(token: string): string {
  return JSON.stringify({ type: 'refresh', token })
}

/**
 * Asks the hub to deliver `topic`'s messages on this connection; `token` is a topic
 * token, when the hub wants one; `since` the topic's last seq the client has, to get
 * what came after it from the topic's history first.
 */
export function subscribeFrame(topic: string, token: string | undefined, since: number | undefined): string {
  return JSON.stringify({ type: 'subscribe', topic, token, since })
}

export function unsubscribeFrame(topic: string): string {
  return JSON.stringify({ type: 'unsubscribe', topic })
}
