// WebSocket text frames, built by the hub itself so that one message becomes one
// buffer: written as it is to every connection of a broadcast (ws would frame and copy
// it again per socket), and written with one syscall per connection however many
// frames a burst queues. Server frames are never masked (RFC 6455 §5.1, §5.2).

const FIN_TEXT = 0x81 // FIN bit + opcode 1 (text)

/** Bytes of frame header in front of a payload of `length` bytes. */
export function headerLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10
}

/** One complete, unmasked text frame holding `message` (UTF-8 for a string). */
export function textFrame(message: string | Buffer): Buffer {
  const length = typeof message === 'string' ? Buffer.byteLength(message) : message.length
  const offset = headerLength(length)
  const frame = Buffer.allocUnsafe(offset + length)
  frame[0] = FIN_TEXT
  if (offset === 2) {
    frame[1] = length
  } else if (offset === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  if (typeof message === 'string') frame.write(message, offset, length, 'utf8')
  else message.copy(frame, offset)
  return frame
}

/** The payload length a frame built by textFrame() declares in its header. */
export function payloadLength(frame: Buffer): number {
  const short = frame[1]! & 0x7f
  if (short < 126) return short
  if (short === 126) return frame.readUInt16BE(2)
  return frame.readUInt32BE(2) * 2 ** 32 + frame.readUInt32BE(6)
}
