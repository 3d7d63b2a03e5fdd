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

/** The frame in `text`: a message's envelope or the answer to a refresh; or the reason it is neither. */
export function parseServerFrame(text: string): PusherMessage | Refreshed | { error: string } {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    return { error: 'a frame from the server is not JSON' }
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { error: 'a frame from the server is not a JSON object' }
  const { data, time, id, seq, type, expiresAt } = value as Record<string, unknown>
  if (type === 'refreshed') {
    if (expiresAt === null || (typeof expiresAt === 'number' && Number.isFinite(expiresAt))) return { type, expiresAt }
    return { error: 'a "refreshed" frame from the server has no numeric or null "expiresAt"' }
  }
  if (typeof data !== 'string') return { error: 'a frame from the server has no string "data"' }
  if (typeof time !== 'number' || !Number.isFinite(time)) return { error: 'a frame from the server has no numeric "time"' }
  if (id === undefined && seq === undefined) return { data, time }
  // A durable envelope must carry both: a seq without an id (or the reverse) is not one we can ack safely.
  if (typeof id !== 'string' || id === '') return { error: 'a durable frame from the server has no string "id"' }
  if (!Number.isSafeInteger(seq) || (seq as number) < 1) return { error: 'a durable frame from the server has no positive integer "seq"' }
  return { id, seq: seq as number, time, data }
}

/** Everything of the user up to `seq` was received. */
export function ackFrame(seq: number): string {
  return JSON.stringify({ type: 'ack', seq })
}

/** New credentials for the open connection, before the ones it was opened with expire. */
export function refreshFrame(token: string): string {
  return JSON.stringify({ type: 'refresh', token })
}
