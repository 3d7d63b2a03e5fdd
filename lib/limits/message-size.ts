// The one size rule for a message a sender hands the hub, whatever route brings it
// (a send, a broadcast, a publish to a topic): counted in the UTF-8 bytes it goes out as,
// since that is what a client's frame and maxMessageBytes mean, not JavaScript's length.
import { PusherError } from '../errors.js'

/** Throws PusherError.MESSAGE_TOO_LARGE (413) for a message over `maxBytes` in UTF-8. */
export function assertMessageSize(message: string, maxBytes: number): void {
  const bytes = Buffer.byteLength(message)
  if (bytes > maxBytes) throw new PusherError.MESSAGE_TOO_LARGE(bytes, maxBytes)
}
