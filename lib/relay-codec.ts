// What one node publishes to another through Redis: messages for users held by the
// receiver, or a broadcast. Binary and length-prefixed, so a message's bytes cross
// unescaped and the receiver frames them straight from the payload.
//
//   unicast:   'U' then, per message: uid length (u16) | uid | message length (u32) | message
//   broadcast: 'B' | origin node id length (u8) | origin | message

const UNICAST = 0x55 // 'U'
const BROADCAST = 0x42 // 'B'

export function encodeUnicast(messages: Array<{ uid: string; message: string }>): Buffer {
  let size = 1
  for (const { uid, message } of messages) size += 6 + Buffer.byteLength(uid) + Buffer.byteLength(message)
  const buffer = Buffer.allocUnsafe(size)
  buffer[0] = UNICAST
  let at = 1
  for (const { uid, message } of messages) {
    const uidLength = buffer.write(uid, at + 2)
    buffer.writeUInt16BE(uidLength, at)
    at += 2 + uidLength
    const messageLength = buffer.write(message, at + 4)
    buffer.writeUInt32BE(messageLength, at)
    at += 4 + messageLength
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

export type Relayed =
  | { kind: 'unicast'; messages: Array<{ uid: string; message: Buffer }> }
  | { kind: 'broadcast'; origin: string; message: Buffer }

/** Decodes a payload; throws on anything malformed (a foreign publisher on our channel). */
export function decodeRelay(buffer: Buffer): Relayed {
  if (buffer[0] === BROADCAST) {
    const originEnd = 2 + buffer[1]!
    if (originEnd > buffer.length) throw new Error('truncated broadcast')
    return { kind: 'broadcast', origin: buffer.toString('utf8', 2, originEnd), message: buffer.subarray(originEnd) }
  }
  if (buffer[0] !== UNICAST) throw new Error(`unknown relay kind ${buffer[0]}`)
  const messages: Array<{ uid: string; message: Buffer }> = []
  let at = 1
  while (at < buffer.length) {
    const uidEnd = at + 2 + buffer.readUInt16BE(at)
    const messageLength = buffer.readUInt32BE(uidEnd)
    const messageEnd = uidEnd + 4 + messageLength
    if (messageEnd > buffer.length) throw new Error('truncated unicast')
    messages.push({ uid: buffer.toString('utf8', at + 2, uidEnd), message: buffer.subarray(uidEnd + 4, messageEnd) })
    at = messageEnd
  }
  return { kind: 'unicast', messages }
}
