// What an authenticator's answer must hold, wherever the token came from: a connecting
// request, or the in-band refresh of an open connection. One check for both, so that a
// refreshed connection is held to exactly the rules it was admitted under.
import { type AuthFailureReason, hintFor } from './failures.js'
import { uidProblem } from './uid.js'

/** A checked identity: the user, when the credentials expire and when they were issued (ms since the epoch; 0: never, unknown). */
export interface CheckedIdentity {
  uid: string
  expiresAt: number
  issuedAt: number
}

/** Why an identity was refused: the reason label and the sentence for the client. */
export interface IdentityProblem {
  reason: AuthFailureReason
  message: string
}

/**
 * Checks what an authenticator returned (a uid, or `{ uid, expiresAt?, issuedAt? }`) at
 * `now`: a valid uid, an expiry that is a time and not past. An `issuedAt` that is not a
 * time is ignored, as if unknown.
 */
export function checkIdentity(identity: unknown, maxUidLength: number, now: number): CheckedIdentity | IdentityProblem {
  let uid = identity
  let expiresAt: unknown
  let issuedAt: unknown
  if (typeof identity === 'object' && identity !== null) ({ uid, expiresAt, issuedAt } = identity as { uid?: unknown; expiresAt?: unknown; issuedAt?: unknown })
  const problem = uidProblem(uid, maxUidLength)
  if (problem !== undefined) return { reason: 'invalid_uid', message: `${hintFor('invalid_uid')}: ${problem}` }
  if (expiresAt !== undefined) {
    if (typeof expiresAt !== 'number' || !Number.isFinite(expiresAt)) {
      return { reason: 'rejected', message: 'the authenticator returned an expiresAt that is not a time in ms since the epoch' }
    }
    if (expiresAt <= now) return { reason: 'expired', message: hintFor('expired') }
  }
  return {
    uid: uid as string,
    expiresAt: (expiresAt as number | undefined) ?? 0,
    issuedAt: typeof issuedAt === 'number' && Number.isFinite(issuedAt) ? issuedAt : 0,
  }
}
