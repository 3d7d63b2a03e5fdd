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
  /** When the hub wrote it, in ms since the epoch. */
  time: number
  data: string
}

/** The hub's answer to a subscribe that took, or to an unsubscribe. */
export interface TopicReply {
  type: 'subscribed' | 'unsubscribed'
  topic: string
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
  // A topic's message is never part of the user's stream, whatever else it carries: it is
  // not acked and does not move lastSeq. (The hub sends topic messages without id or seq;
  // history per topic is not built yet.)
  if (topic !== undefined) {
    if (typeof topic !== 'string' || topic === '') return { error: 'a topic frame from the server has no non-empty string "topic"' }
    return { topic, time, data }
  }
  if (id === undefined && seq === undefined) return { data, time }
  // A durable envelope must carry both: a seq without an id (or the reverse) is not one we can ack safely.
  if (typeof id !== 'string' || id === '') return { error: 'a durable frame from the server has no string "id"' }
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return { error: 'a durable frame from the server has no positive integer "seq"' }
  return { id, seq: seq as number, time, data }
}

function parseTopicAnswer(frame: Record<string, unknown>): TopicReply | TopicRefused | { error: string } {
  const { type, topic, reason, message } = frame
  if (typeof topic !== 'string') return { error: `a "${String(type)}" frame from the server has no string "topic"` }
  if (type === 'subscribed' || type === 'unsubscribed') return { type, topic }
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

/** Asks the hub to deliver `topic`'s messages on this connection; `token` is a topic token, when the hub wants one. */
export function subscribeFrame(topic: string, token: string | undefined): string {
  return JSON.stringify(token === undefined ? { type: 'subscribe', topic } : { type: 'subscribe', topic, token })
}

export function unsubscribeFrame(topic: string): string {
  return JSON.stringify({ type: 'unsubscribe', topic })
}
