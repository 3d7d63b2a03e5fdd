// Why a connecting client was turned away, as a short label for the
// pusher_auth_failures_total metric and a sentence for the 401 body.
import { TokenError } from 'fast-jwt'
import { PusherError } from '../errors.js'

export type AuthFailureReason =
  | 'missing_token'
  | 'malformed'
  | 'bad_signature'
  | 'algorithm'
  | 'expired'
  | 'not_yet_valid'
  | 'claims'
  | 'invalid_uid'
  | 'rejected'
  | 'revoked'
  | 'invalid_topics'

export const AUTH_FAILURE_REASONS: readonly AuthFailureReason[] = [
  'missing_token', 'malformed', 'bad_signature', 'algorithm', 'expired', 'not_yet_valid', 'claims', 'invalid_uid', 'rejected', 'revoked', 'invalid_topics',
]

const HINTS: Record<AuthFailureReason, string> = {
  missing_token: 'send a token',
  malformed: 'the token is not a JWT; send the compact form header.payload.signature',
  bad_signature: 'the signature does not match; sign with the key the hub verifies with',
  algorithm: 'the token uses an algorithm this hub does not accept',
  expired: 'the token has expired; fetch a fresh one',
  not_yet_valid: 'the token is not valid yet (nbf); check the clocks',
  claims: 'a required claim (iss, aud) is missing or wrong',
  invalid_uid: 'the token needs a "uid" or "sub" claim holding a non-empty string',
  rejected: 'the authenticator refused the connection',
  revoked: "the backend revoked this user's tokens issued before a time; fetch a fresh token",
  invalid_topics: 'the "topics" claim must be an array of topic names (letters, digits and _-.:@/), at most PUSHER_MAX_TOPICS_PER_CONNECTION of them',
}

export function hintFor(reason: AuthFailureReason): string {
  return HINTS[reason]
}

/** Maps a fast-jwt verification error to a reason label. */
export function reasonForJwtError(error: unknown): AuthFailureReason {
  switch ((error as { code?: string }).code) {
    case TokenError.codes.expired: return 'expired'
    case TokenError.codes.inactive: return 'not_yet_valid'
    case TokenError.codes.invalidSignature: return 'bad_signature'
    case TokenError.codes.invalidAlgorithm:
    case TokenError.codes.missingSignature: return 'algorithm'
    case TokenError.codes.invalidClaimValue:
    case TokenError.codes.missingRequiredClaim: return 'claims'
    default: return 'malformed'
  }
}

/** A refused connecting client (401 PUSHER_ERR_TOKEN_INVALID) with its reason label. */
export class AuthFailure extends PusherError.TOKEN_INVALID {
  constructor(readonly reason: AuthFailureReason, detail?: string) {
    super(reason, detail ?? hintFor(reason))
  }
}
