// The framed protocol (`pusher.framed.v1`, offered as a WebSocket subprotocol): every
// message reaches the client as one JSON envelope, and the client acknowledges durable
// ones. Clients that do not opt in keep getting the bare text, as go-pusher sent it.
//
//   server -> client   {"id":"<id>","seq":<n>,"time":<ms>,"data":"<message>"}  durable
//                      {"time":<ms>,"data":"<message>"}                        not durable
//   client -> server   {"type":"ack","seq":<n>}   everything of the user up to seq n
import { textFrame } from './frame.js'

/** What a durable message carries besides its text: its id, its place in the user's stream, when it was stored. */
export interface MessageMeta {
  id: string
  seq: number
  /** When the message was stored, in ms since the epoch. */
  time: number
}

/** The envelope a framed connection receives for `message`. */
export function envelope(message: string | Buffer, meta: MessageMeta | undefined, now: number): string {
  const data = JSON.stringify(typeof message === 'string' ? message : message.toString('utf8'))
  if (meta === undefined) return `{"time":${now},"data":${data}}`
  return `{"id":${JSON.stringify(meta.id)},"seq":${meta.seq},"time":${meta.time},"data":${data}}`
}

/**
 * The frames of one message, each built on first need and then shared by every
 * connection it goes to: the bare text for plain connections, the envelope for framed ones.
 */
export class MessageFrames {
  private plain: Buffer | undefined
  private framed: Buffer | undefined

  constructor(
    readonly message: string | Buffer,
    readonly meta: MessageMeta | undefined,
  ) {}

  for(framed: boolean): Buffer {
    if (!framed) return (this.plain ??= textFrame(this.message))
    return (this.framed ??= textFrame(envelope(this.message, this.meta, Date.now())))
  }
}

export interface Ack {
  type: 'ack'
  seq: number
}

/** The one frame a framed client may send, or the reason a frame is not one (the hub closes with it). */
export function parseClientFrame(data: Buffer, isBinary: boolean): Ack | { error: string } {
  const usage = 'send {"type":"ack","seq":<n>} as a text frame'
  if (isBinary) return { error: `binary frames are not accepted: ${usage}` }
  let frame: unknown
  try {
    frame = JSON.parse(data.toString('utf8'))
  } catch {
    return { error: `not JSON: ${usage}` }
  }
  const { type, seq } = (frame ?? {}) as { type?: unknown; seq?: unknown }
  if (type !== 'ack') return { error: `unknown frame type: ${usage}` }
  if (!Number.isSafeInteger(seq) || (seq as number) < 0) return { error: `seq must be a whole number: ${usage}` }
  return { type: 'ack', seq: seq as number }
}

/** A client's `?since=`: the seq of the last message it saw; undefined when absent, NaN when malformed. */
export function parseSince(query: unknown): number | undefined {
  const since = (query as { since?: unknown } | undefined)?.since
  if (since === undefined) return undefined
  if (typeof since !== 'string' || !/^[0-9]{1,16}$/.test(since)) return Number.NaN
  const seq = Number(since)
  return Number.isSafeInteger(seq) ? seq : Number.NaN
}
