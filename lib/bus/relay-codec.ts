// What one node publishes to another through Redis: messages for users held by the
// receiver, or a broadcast. Binary and length-prefixed, so a message's bytes cross
// unescaped and the receiver frames them straight from the payload.
//
//   unicast:   'U' then, per message: uid length (u16) | uid | message length (u32) | message
//              | meta flag (u8): 0, or 1 then id length (u8) | id | seq (f64) | time (f64)
//   broadcast: 'B' | origin node id length (u8) | origin | message
//   kick:      'K' | reconnect (u8: 1 may reconnect, 0 for good) | uid
//   revoke:    'R' | origin node id length (u8) | origin | cut (f64, ms) | until (f64, ms) | uid
//   publish:   'P' | origin node id length (u8) | origin | topic length (u16) | topic | message
//              (on the topic's own channel, which only nodes with subscribers listen to)
//   stored publish: 'Q', as 'P' with id length (u8) | id | seq (f64) | time (f64) before the
//              message: one kept in the topic's history
//   topics:    'T' | JSON {origin, id, uid, subscribe, unsubscribe}: the backend changes a
//              user's topics; the node answers on the origin's relay channel with
//   answer:    'A' | JSON {id, connections, subscribed, unsubscribed, refused}
//   (rare, small and not on a hot path: JSON keeps them readable)
//
// The meta of a durable message crosses too, so framed clients on the receiving node
// get its id and seq.
import type { MessageMeta } from '../hub/envelope.js'

const UNICAST = 0x55 // 'U'
const BROADCAST = 0x42 // 'B'
const KICK = 0x4b // 'K'
const REVOKE = 0x52 // 'R'
const PUBLISH = 0x50 // 'P'
const STORED_PUBLISH = 0x51 // 'Q'
const TOPICS = 0x54 // 'T'
const ANSWER = 0x41 // 'A'

/** A change of a user's topics asked of another node. */
export interface TopicChangeRequest {
  origin: string
  /** Matches the answer to the request. */
  id: number
  uid: string
  subscribe: string[]
  unsubscribe: string[]
}

/** What a node changed for a TopicChangeRequest. */
export interface TopicChangeAnswer {
  id: number
  connections: number
  subscribed: number
  unsubscribed: number
  refused: number
}

export function encodeUnicast(messages: Array<{ uid: string; message: string; meta?: MessageMeta | undefined }>): Buffer {
  let size = 1
  for (const { uid, message, meta } of messages) {
    size += 7 + Buffer.byteLength(uid) + Buffer.byteLength(message)
    if (meta !== undefined) size += 17 + Buffer.byteLength(meta.id)
  }
  const buffer = Buffer.allocUnsafe(size)
  buffer[0] = UNICAST
  let at = 1
  for (const { uid, message, meta } of messages) {
    const uidLength = buffer.write(uid, at + 2)
    buffer.writeUInt16BE(uidLength, at)
    at += 2 + uidLength
    const messageLength = buffer.write(message, at + 4)
    buffer.writeUInt32BE(messageLength, at)
    at += 4 + messageLength
    if (meta === undefined) {
      buffer[at++] = 0
      continue
    }
    buffer[at] = 1
    const idLength = buffer.write(meta.id, at + 2)
    buffer[at + 1] = idLength
    at += 2 + idLength
    buffer.writeDoubleBE(meta.seq, at)
    buffer.writeDoubleBE(meta.time, at + 8)
    at += 16
  }
  return buffer
}

export function encodeBroadcast(origin: string, message: string): Buffer {
  const originBytes = Buffer.from(origin)
  const buffer = Buffer.allocUnsafe(2 + originBytes.length + Buffer.byteLength(message))
  buffer[0] = BROADCAST
  buffer[1] = originBytes.length
  originBytes.copy(buffer, 2)
  buffer.write(message, 2 + originBytes.length)
  return buffer
}

/** Closes every connection of `uid` on the receiving node. */
export function encodeKick(uid: string, reconnect: boolean): Buffer {
  const buffer = Buffer.allocUnsafe(2 + Buffer.byteLength(uid))
  buffer[0] = KICK
  buffer[1] = reconnect ? 1 : 0
  buffer.write(uid, 2)
  return buffer
}

/** A revocation, for every node (on the broadcast channel). */
export function encodeRevoke(origin: string, uid: string, cutMs: number, untilMs: number): Buffer {
  const originBytes = Buffer.from(origin)
  const at = 2 + originBytes.length
  const buffer = Buffer.allocUnsafe(at + 16 + Buffer.byteLength(uid))
  buffer[0] = REVOKE
  buffer[1] = originBytes.length
  originBytes.copy(buffer, 2)
  buffer.writeDoubleBE(cutMs, at)
  buffer.writeDoubleBE(untilMs, at + 8)
  buffer.write(uid, at + 16)
  return buffer
}

/** A message published to a topic, for every node that has subscribers to it. */
export function encodePublish(origin: string, topic: string, message: string, meta?: MessageMeta): Buffer {
  const originBytes = Buffer.from(origin)
  const topicBytes = Buffer.from(topic)
  const idBytes = meta === undefined ? undefined : Buffer.from(meta.id)
  let at = 4 + originBytes.length + topicBytes.length
  const buffer = Buffer.allocUnsafe(at + (idBytes === undefined ? 0 : 17 + idBytes.length) + Buffer.byteLength(message))
  buffer[0] = idBytes === undefined ? PUBLISH : STORED_PUBLISH
  buffer[1] = originBytes.length
  originBytes.copy(buffer, 2)
  buffer.writeUInt16BE(topicBytes.length, 2 + originBytes.length)
  topicBytes.copy(buffer, 4 + originBytes.length)
  if (idBytes !== undefined) {
    buffer[at] = idBytes.length
    idBytes.copy(buffer, at + 1)
    at += 1 + idBytes.length
    buffer.writeDoubleBE(meta!.seq, at)
    buffer.writeDoubleBE(meta!.time, at + 8)
    at += 16
  }
  buffer.write(message, at)
  return buffer
}

export function encodeTopicChange(request: TopicChangeRequest): Buffer {
  return Buffer.concat([Buffer.of(TOPICS), Buffer.from(JSON.stringify(request))])
}

export function encodeTopicAnswer(answer: TopicChangeAnswer): Buffer {
  return Buffer.concat([Buffer.of(ANSWER), Buffer.from(JSON.stringify(answer))])
}

export type Relayed =
  | { kind: 'unicast'; messages: Array<{ uid: string; message: Buffer; meta: MessageMeta | undefined }> }
  | { kind: 'broadcast'; origin: string; message: Buffer }
  | { kind: 'kick'; uid: string; reconnect: boolean }
  | { kind: 'revoke'; origin: string; uid: string; cutMs: number; untilMs: number }
  | { kind: 'publish'; origin: string; topic: string; message: Buffer; meta: MessageMeta | undefined }
  | { kind: 'topics'; request: TopicChangeRequest }
  | { kind: 'answer'; answer: TopicChangeAnswer }

/** Decodes a payload; throws on anything malformed (a foreign publisher on our channel). */
export function decodeRelay(buffer: Buffer): Relayed {
  if (buffer[0] === BROADCAST) {
    const originEnd = 2 + buffer[1]!
    if (originEnd > buffer.length) throw new Error('truncated broadcast')
    return { kind: 'broadcast', origin: buffer.toString('utf8', 2, originEnd), message: buffer.subarray(originEnd) }
  }
  if (buffer[0] === KICK) {
    if (buffer.length < 3) throw new Error('truncated kick')
    return { kind: 'kick', reconnect: buffer[1] === 1, uid: buffer.toString('utf8', 2) }
  }
  if (buffer[0] === REVOKE) {
    const originEnd = 2 + buffer[1]!
    if (originEnd + 17 > buffer.length) throw new Error('truncated revoke')
    return {
      kind: 'revoke',
      origin: buffer.toString('utf8', 2, originEnd),
      cutMs: buffer.readDoubleBE(originEnd),
      untilMs: buffer.readDoubleBE(originEnd + 8),
      uid: buffer.toString('utf8', originEnd + 16),
    }
  }
  if (buffer[0] === PUBLISH || buffer[0] === STORED_PUBLISH) {
    const originEnd = 2 + buffer[1]!
    if (originEnd + 2 > buffer.length) throw new Error('truncated publish')
    const topicEnd = originEnd + 2 + buffer.readUInt16BE(originEnd)
    if (topicEnd > buffer.length) throw new Error('truncated publish')
    const origin = buffer.toString('utf8', 2, originEnd)
    const topic = buffer.toString('utf8', originEnd + 2, topicEnd)
    if (buffer[0] === PUBLISH) return { kind: 'publish', origin, topic, message: buffer.subarray(topicEnd), meta: undefined }
    if (topicEnd + 1 > buffer.length) throw new Error('truncated publish')
    const idEnd = topicEnd + 1 + buffer[topicEnd]!
    if (idEnd + 16 > buffer.length) throw new Error('truncated publish')
    const meta = { id: buffer.toString('utf8', topicEnd + 1, idEnd), seq: buffer.readDoubleBE(idEnd), time: buffer.readDoubleBE(idEnd + 8) }
    return { kind: 'publish', origin, topic, message: buffer.subarray(idEnd + 16), meta }
  }
  if (buffer[0] === TOPICS) {
    const request = JSON.parse(buffer.toString('utf8', 1)) as Partial<TopicChangeRequest>
    const names = (list: unknown) => Array.isArray(list) && list.every((topic) => typeof topic === 'string')
    if (typeof request.origin !== 'string' || typeof request.id !== 'number' || typeof request.uid !== 'string' || !names(request.subscribe) || !names(request.unsubscribe)) {
      throw new Error('malformed topic change')
    }
    return { kind: 'topics', request: request as TopicChangeRequest }
  }
  if (buffer[0] === ANSWER) {
    const answer = JSON.parse(buffer.toString('utf8', 1)) as Partial<TopicChangeAnswer>
    const fields = [answer.id, answer.connections, answer.subscribed, answer.unsubscribed, answer.refused]
    if (!fields.every((field) => typeof field === 'number')) throw new Error('malformed topic answer')
    return { kind: 'answer', answer: answer as TopicChangeAnswer }
  }
  if (buffer[0] !== UNICAST) throw new Error(`unknown relay kind ${buffer[0]}`)
  const messages: Array<{ uid: string; message: Buffer; meta: MessageMeta | undefined }> = []
  let at = 1
  while (at < buffer.length) {
    const uidEnd = at + 2 + buffer.readUInt16BE(at)
    const messageLength = buffer.readUInt32BE(uidEnd)
    const messageEnd = uidEnd + 4 + messageLength
    if (messageEnd >= buffer.length) throw new Error('truncated unicast')
    const uid = buffer.toString('utf8', at + 2, uidEnd)
    const message = buffer.subarray(uidEnd + 4, messageEnd)
    at = messageEnd + 1
    let meta: MessageMeta | undefined
    if (buffer[messageEnd] === 1) {
      const idEnd = at + 1 + buffer[at]!
      if (idEnd + 16 > buffer.length) throw new Error('truncated message meta')
      meta = { id: buffer.toString('utf8', at + 1, idEnd), seq: buffer.readDoubleBE(idEnd), time: buffer.readDoubleBE(idEnd + 8) }
      at = idEnd + 16
    }
    messages.push({ uid, message, meta })
  }
  return { kind: 'unicast', messages }
}
