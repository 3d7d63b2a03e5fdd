// What an authenticator's answer must hold, wherever the token came from: a connecting
// request, or the in-band refresh of an open connection. One check for both, so that a
// refreshed connection is held to exactly the rules it was admitted under.
import { type AuthFailureReason, hintFor } from './failures.js'
import { uidProblem } from './uid.js'
import { topicProblem } from '../topics/name.js'

/** A checked identity: the user, when the credentials expire and when they were issued (ms since the epoch; 0: never, unknown). */
export interface CheckedIdentity {
  uid: string
  expiresAt: number
  issuedAt: number
  /** Topics the connection watches from the start (a JWT's `topics` claim); undefined: none. */
  topics: string[] | undefined
}

/** The limits an identity is checked against. */
export interface IdentityLimits {
  maxUidLength: number
  maxTopicLength: number
  maxTopicsPerConnection: number
}

/** Why an identity was refused: the reason label and the sentence for the client. */
export interface IdentityProblem {
  reason: AuthFailureReason
  message: string
}

/**
 * Checks what an authenticator returned (a uid, or `{ uid, expiresAt?, issuedAt?, topics? }`)
 * at `now`: a valid uid, an expiry that is a time and not past, topics that are valid
 * names within the per-connection limit. An `issuedAt` that is not a time is ignored, as
 * if unknown.
 */
export function checkIdentity(identity: unknown, limits: IdentityLimits, now: number): CheckedIdentity | IdentityProblem {
  let uid = identity
  let expiresAt: unknown
  let issuedAt: unknown
  let topics: unknown
  if (typeof identity === 'object' && identity !== null) ({ uid, expiresAt, issuedAt, topics } = identity as { uid?: unknown; expiresAt?: unknown; issuedAt?: unknown; topics?: unknown })
  const problem = uidProblem(uid, limits.maxUidLength)
  if (problem !== undefined) return { reason: 'invalid_uid', message: `${hintFor('invalid_uid')}: ${problem}` }
  if (expiresAt !== undefined) {
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      return { reason: 'rejected', message: 'the authenticator returned an expiresAt that is not a time in ms since the epoch' }
    }
    if (expiresAt <= now) return { reason: 'expired', message: hintFor('expired') }
  }
  if (topics !== undefined) {
    const wrong = !Array.isArray(topics) || topics.length > limits.maxTopicsPerConnection
      ? 'the topics claim must be an array of at most PUSHER_MAX_TOPICS_PER_CONNECTION names'
      // Array.from visits holes too (map and find skip them): a sparse array is no list of names.
      : Array.from(topics, (topic) => topicProblem(topic, limits.maxTopicLength)).find((found) => found !== undefined)
    if (wrong !== undefined) return { reason: 'invalid_topics', message: `${hintFor('invalid_topics')}: ${wrong}` }
  }
  return {
    uid: uid as string,
    expiresAt: (expiresAt as number | undefined) ?? 0,
    issuedAt: typeof issuedAt === 'number' && Number.isFinite(issuedAt) ? issuedAt : 0,
    topics: topics === undefined || (topics as string[]).length === 0 ? undefined : [...new Set(topics as string[])],
  }
}
