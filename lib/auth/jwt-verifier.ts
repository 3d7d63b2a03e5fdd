// The JWT check every connect token, refresh token and topic token goes through:
// fast-jwt's verifier, made once with the algorithms pinned and the required issuer and
// audience. @fastify/jwt builds the same verifier, but its verify() copies its options
// into two new objects on every call; on the handshake path that cost about 1% of a
// handshake's CPU for nothing (bench/RESULTS.md, "What the abuse limits cost").
import { createVerifier } from 'fast-jwt'
import type { ResolvedJwt } from '../config/jwt.js'

/** Verifies a token's signature, algorithm, expiry and claims; returns its claims or throws fast-jwt's TokenError. */
export type VerifyJwt = (token: string) => Record<string, unknown>

export function jwtVerifier(jwt: ResolvedJwt): VerifyJwt {
  return createVerifier({
    key: jwt.key,
    algorithms: jwt.algorithms,
    cache: jwt.cacheVerified,
    ...(jwt.issuer !== undefined && { allowedIss: jwt.issuer }),
    ...(jwt.audience !== undefined && { allowedAud: jwt.audience }),
  }) as VerifyJwt
}
