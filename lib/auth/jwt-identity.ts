// What a JWT proves, for the default authenticator and the default topic check (the
// auth plugin wires them): the identity a connect token gives, with the same rules for an
// in-band refresh, and whether a topic token lets a user watch a topic. Verification
// itself (pinned algorithms, issuer, audience) is the `verify` given (jwt-verifier.ts).
import { AuthFailure, hintFor, reasonForJwtError } from './failures.js'
import type { VerifyJwt } from './jwt-verifier.js'

/**
 * Who a connecting request belongs to: the user id, or the user id and when the
 * credentials that proved it expire (ms since the epoch; the hub closes the connection
 * then, with close code 4001).
 */
export type Identity = string | {
  uid: string
  expiresAt?: number
  /** When the credentials were issued (ms since the epoch), a JWT's `iat`: a revocation refuses those issued before its cut. */
  issuedAt?: number
  /** Topics the connection watches from the start, as a JWT's `topics` claim gives them. */
  topics?: string[]
}

/**
 * Decides whether user `uid` may watch `topic` when one of its framed clients asks
 * (`{"type":"subscribe","topic","token"}`); `token` is what the client sent, if anything.
 * Returns or resolves to true to allow. Replaces the default check of topic tokens.
 */
export type AuthorizeTopicFn = (uid: string, topic: string, context: { token: string | undefined }) => boolean | Promise<boolean>

/** The identity a connect (or refresh) token proves; throws AuthFailure (401) with a reason otherwise. */
export function jwtIdentity(verify: VerifyJwt, token: string): Identity {
  let claims: Record<string, unknown>
  try {
    claims = verify(token)
  } catch (error) {
    const reason = reasonForJwtError(error)
    throw new AuthFailure(reason, `${hintFor(reason)} (${(error as Error).message})`)
  }
  // A topic token grants one topic to a connection that is already open; taken as a
  // connect token it would let its holder receive every message of the user.
  if (claims.topic !== undefined) throw new AuthFailure('claims', 'a topic token (with a "topic" claim) cannot open or refresh a connection; send the user\'s connect token')
  // go-pusher's claim is `uid`; `sub` is the registered JWT claim for the same thing.
  const uid = typeof claims.uid === 'string' ? claims.uid : claims.sub
  if (typeof uid !== 'string') throw new AuthFailure('invalid_uid')
  const { exp, iat, topics } = claims
  if (typeof exp !== 'number' && typeof iat !== 'number' && topics === undefined) return uid
  // One shape for every token, built without spreads: this runs once per handshake.
  // Undefined fields count as absent (identity.ts).
  return {
    uid,
    expiresAt: typeof exp === 'number' ? exp * 1000 : undefined,
    issuedAt: typeof iat === 'number' ? iat * 1000 : undefined,
    // Checked with the identity (identity.ts): names and how many.
    topics: topics as string[] | undefined,
  }
}

/** The default authorizeTopic with JWT: a topic token for this user and this topic, verified like a connect token. */
export function topicTokenAuthorizer(verify: VerifyJwt): AuthorizeTopicFn {
  return (uid, topic, { token }) => {
    if (token === undefined) return false
    const claims = verify(token)
    const subject = typeof claims.uid === 'string' ? claims.uid : claims.sub
    return subject === uid && claims.topic === topic
  }
}
