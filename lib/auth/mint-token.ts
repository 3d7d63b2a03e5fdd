// Signs client tokens the way the hub verifies them (HS256, claim `uid`), for the
// development banner and the `pusher-token` command. Production systems mint tokens
// in their own login service; this is for trying the hub out.
import { createSigner } from 'fast-jwt'

export interface MintOptions {
  secret: string
  uid: string
  /** Lifetime in seconds; 0 for a token without `exp` (like go-pusher's test vector). */
  ttlSeconds?: number
  /** A connect token's `topics` claim: topics the connection watches from the start. */
  topics?: string[]
  /** Makes a topic token instead: it lets a connection of `uid` subscribe to this topic (and cannot connect). */
  topic?: string
}

export function mintToken({ secret, uid, ttlSeconds = 3600, topics, topic }: MintOptions): string {
  const sign = createSigner({
    key: secret,
    algorithm: 'HS256',
    ...(ttlSeconds > 0 && { expiresIn: ttlSeconds * 1000 }),
  })
  return sign({ uid, ...(topics !== undefined && topics.length > 0 && { topics }), ...(topic !== undefined && { topic }) })
}
