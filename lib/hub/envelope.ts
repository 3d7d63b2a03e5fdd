// The framed protocol (`pusher.framed.v1`, offered as a WebSocket subprotocol): every
// message reaches the client as one JSON envelope, and the client acknowledges durable
// ones. Clients that do not opt in keep getting the bare text, as go-pusher sent it.
//
//   server -> client   {"id":"<id>","seq":<n>,"time":<ms>,"data":"<message>"}  durable
//                      {"time":<ms>,"data":"<message>"}                        not durable
//   client -> server   {"type":"ack","seq":<n>}   everything of the user up to seq n
//                      {"type":"refresh","token":"<jwt>"}   new credentials before the old expire
//   server -> client   {"type":"refreshed","expiresAt":<ms>|null}   the refresh took
//
// Topics (lib/hub/topics.ts):
//   client -> server   {"type":"subscribe","topic":"<name>","token":"<topic jwt>","since":<n>}
//                      token optional with an authorizeTopic hook; since optional: the topic's
//                      last seq the client saw, to get what it missed from the history
//                      {"type":"unsubscribe","topic":"<name>"}
//   server -> client   {"type":"subscribed","topic":"<name>","seq":<n>,"recovered":<bool>}
//                      seq when the store keeps topic history: the `since` to resume from;
//                      recovered only for a subscribe with since: false if some was lost
//                      {"type":"unsubscribed","topic":"<name>"}
//                      {"type":"error","topic":"<name>","reason":"<label>","message":"<what to do>"}   the connection stays open
//                      {"topic":"<name>","time":<ms>,"data":"<message>"}   a message published to the topic
//                      {"topic":"<name>","id":"<id>","seq":<n>,"time":<ms>,"data":"<message>"}   one published with a ttl
import { textFrame } from './frame.js'
import type { OpenedStream } from './topic-streams.js'

/** What a durable message carries besides its text: its id, its place in the user's stream, when it was stored. */
export interface MessageMeta {
  id: string
  seq: number
  /** When the message was stored, in ms since the epoch. */
  time: number
}

/** The envelope a framed connection receives for `message` (published to `topic`, when given). */
export function envelope(message: string | Buffer, meta: MessageMeta | undefined, now: number, topic?: string): string {
  const data = JSON.stringify(typeof message === 'string' ? message : message.toString('utf8'))
  const about = topic === undefined ? '' : `"topic":${JSON.stringify(topic)},`
  if (meta === undefined) return `{${about}"time":${now},"data":${data}}`
  return `{${about}"id":${JSON.stringify(meta.id)},"seq":${meta.seq},"time":${meta.time},"data":${data}}`
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
    /** Set for a message published to a topic: framed clients are told which. */
    readonly topic?: string,
  ) {}

  for(framed: boolean): Buffer {
    if (!framed) return (this.plain ??= textFrame(this.message))
    return (this.framed ??= textFrame(envelope(this.message, this.meta, Date.now(), this.topic)))
  }
}

export interface Ack {
  type: 'ack'
  seq: number
}

/** New credentials for an open connection, sent before the ones it was opened with expire. */
export interface Refresh {
  type: 'refresh'
  token: string
}

/** A request to watch a topic: allowed by a topic token, or by the authorizeTopic hook. */
export interface Subscribe {
  type: 'subscribe'
  /** Unchecked: the hub answers an invalid name with an error frame. */
  topic: string
  token: string | undefined
  /** The topic's last seq the client saw: what came after it, still kept, is written first. */
  since: number | undefined
}

export interface Unsubscribe {
  type: 'unsubscribe'
  topic: string
}

const ACK_USAGE = 'send {"type":"ack","seq":<n>}'
const REFRESH_USAGE = 'send {"type":"refresh","token":"<jwt>"}'
const TOPIC_USAGE = 'send {"type":"subscribe","topic":"<name>","token":"<jwt>","since":<seq>}'
// Close reasons are at most 123 bytes: the longest error below with this stays under it.
const USAGE = 'send {"type":"ack"|"refresh"|"subscribe"|"unsubscribe",...} as a text frame (docs/api.md)'

/** A frame a framed client may send, or the reason a frame is not one (the hub closes with it). */
export function parseClientFrame(data: Buffer, isBinary: boolean): Ack | Refresh | Subscribe | Unsubscribe | { error: string } {
  if (isBinary) return { error: `binary frames are not accepted: ${USAGE}` }
  let frame: unknown
  try {
    frame = JSON.parse(data.toString('utf8'))
  } catch {
    return { error: `not JSON: ${USAGE}` }
  }
  const { type, seq, token, topic, since } = (frame ?? {}) as { type?: unknown; seq?: unknown; token?: unknown; topic?: unknown; since?: unknown }
  if (type === 'ack') {
    if (!Number.isSafeInteger(seq) || (seq as number) < 0) return { error: `seq must be a whole number: ${ACK_USAGE}` }
    return { type: 'ack', seq: seq as number }
  }
  if (type === 'refresh') {
    if (typeof token !== 'string' || token === '') return { error: `token must be a non-empty string: ${REFRESH_USAGE}` }
    return { type: 'refresh', token }
  }
  if (type === 'subscribe' || type === 'unsubscribe') {
    if (typeof topic !== 'string') return { error: `topic must be a string: ${TOPIC_USAGE}` }
    if (type === 'unsubscribe') return { type, topic }
    if (token !== undefined && typeof token !== 'string') return { error: `token must be a string: ${TOPIC_USAGE}` }
    if (since !== undefined && !(Number.isSafeInteger(since) && (since as number) >= 0)) return { error: `since must be a whole number: ${TOPIC_USAGE}` }
    return { type, topic, token, since: since as number | undefined }
  }
  return { error: `unknown frame type: ${USAGE}` }
}

/** The answer to a subscribe that took, with where it left the client in the topic's stream (or an unsubscribe, with `subscribed` false). */
export function topicReplyFrame(topic: string, subscribed: boolean, opened?: OpenedStream): string {
  const about = `"type":"${subscribed ? 'subscribed' : 'unsubscribed'}","topic":${JSON.stringify(topic)}`
  if (opened === undefined) return `{${about}}`
  return `{${about},"seq":${opened.seq}${opened.recovered === undefined ? '' : `,"recovered":${opened.recovered}`}}`
}

/** A refused subscribe: the connection stays open; `reason` is a label, `message` says what to do. */
export function topicErrorFrame(topic: string, reason: string, message: string): string {
  return JSON.stringify({ type: 'error', topic, reason, message })
}

/** The answer to a refresh that took: when the connection's new credentials expire (ms since the epoch), or null for never. */
export function refreshedFrame(expiresAt: number): string {
  return `{"type":"refreshed","expiresAt":${expiresAt > 0 ? expiresAt : null}}`
}

/** A client's `?since=`: the seq of the last message it saw; undefined when absent, NaN when malformed. */
export function parseSince(query: unknown): number | undefined {
  const since = (query as { since?: unknown } | undefined)?.since
  if (since === undefined) return undefined
  if (typeof since !== 'string' || !/^[0-9]{1,16}$/.test(since)) return Number.NaN
  const seq = Number(since)
  return Number.isSafeInteger(seq) ? seq : Number.NaN
}
