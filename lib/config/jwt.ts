// The JWT half of the configuration: which key verifies client tokens, and which
// algorithms are pinned to it. An asymmetric algorithm is never accepted with a shared
// secret (the RS/HS confusion attack), and "none" is never accepted at all.
import { createPublicKey } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fail, splitList } from './util.js'

export const JWT_ALGORITHMS = [
  'HS256', 'HS384', 'HS512',
  'RS256', 'RS384', 'RS512',
  'PS256', 'PS384', 'PS512',
  'ES256', 'ES384', 'ES512',
  'EdDSA',
] as const
export type JwtAlgorithm = (typeof JWT_ALGORITHMS)[number]

export interface JwtOptions {
  /** Shared secret for HS256/384/512 (`JWT_SECRET`). */
  secret?: string
  /** PEM public key for RS*, PS*, ES* or EdDSA (`JWT_PUBLIC_KEY`: PEM text or a file path). */
  publicKey?: string | Buffer
  /** Accepted algorithms (`JWT_ALGORITHMS`); defaults to HS256, or to what the public key implies. */
  algorithms?: JwtAlgorithm[]
  /** Required `iss` claim (`JWT_ISSUER`). */
  issuer?: string
  /** Required `aud` claim (`JWT_AUDIENCE`). */
  audience?: string
}

export interface ResolvedJwt {
  /** The key tokens are verified with (lib/auth/jwt-verifier.ts): the secret, or the public key. */
  key: string | Buffer
  algorithms: JwtAlgorithm[]
  /**
   * Keep verified tokens, so that a token seen again costs a lookup instead of a
   * signature check. Only for public keys: fast-jwt keys its cache on a SHA-256 of the
   * token, taken twice for a token it has not seen, which costs more than checking an
   * HMAC signature outright (bench/RESULTS.md). An RSA or ECDSA check costs several times
   * that, so a client reconnecting with the same token is worth caching there.
   */
  cacheVerified: boolean
  issuer?: string
  audience?: string
}

/** The JWT_* variables, as env-schema typed them. */
export interface JwtEnv {
  JWT_SECRET?: string
  JWT_PUBLIC_KEY?: string
  JWT_ALGORITHMS?: string
  JWT_ISSUER?: string
  JWT_AUDIENCE?: string
}

export function resolveJwt(options: JwtOptions, env: JwtEnv, warnings: string[]): ResolvedJwt | undefined {
  const secret = options.secret ?? env.JWT_SECRET
  const publicKey = options.publicKey ?? readPem(env.JWT_PUBLIC_KEY)
  const algorithms = options.algorithms ?? (splitList(env.JWT_ALGORITHMS) as JwtAlgorithm[])
  const claims = { issuer: options.issuer ?? env.JWT_ISSUER, audience: options.audience ?? env.JWT_AUDIENCE }
  for (const algorithm of algorithms) {
    if (!JWT_ALGORITHMS.includes(algorithm)) fail(`JWT algorithm "${algorithm}" is not supported; use one of ${JWT_ALGORITHMS.join(', ')}`)
  }
  if (secret !== undefined && publicKey !== undefined) fail('set either a JWT secret or a JWT public key, not both')

  if (secret !== undefined) {
    if (secret.length === 0) fail('JWT_SECRET is empty')
    if (secret.length < 32) warnings.push('JWT secret is shorter than 32 characters; HS256 wants at least 32 random bytes')
    const pinned = algorithms.length > 0 ? algorithms : ['HS256' as const]
    // A shared secret must never verify an asymmetric algorithm: that is the RS/HS confusion attack.
    if (pinned.some((a) => !a.startsWith('HS'))) fail('a JWT secret can only verify HS256/HS384/HS512; use a public key for other algorithms')
    return { key: secret, algorithms: pinned, cacheVerified: false, ...claims }
  }
  if (publicKey !== undefined) {
    const implied = algorithmsForKey(publicKey)
    const pinned = algorithms.length > 0 ? algorithms : implied.slice(0, 1)
    const wrong = pinned.find((a) => !implied.includes(a))
    if (wrong !== undefined) fail(`JWT algorithm ${wrong} does not fit the public key (it allows ${implied.join(', ')})`)
    return { key: publicKey, algorithms: pinned, cacheVerified: true, ...claims }
  }
  return undefined
}

/** The algorithms a public key can verify, the usual one first. */
function algorithmsForKey(pem: string | Buffer): JwtAlgorithm[] {
  let key
  try {
    key = createPublicKey(pem)
  } catch (error) {
    return fail(`JWT public key is not a PEM public key: ${(error as Error).message}`)
  }
  switch (key.asymmetricKeyType) {
    case 'rsa': return ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512']
    case 'rsa-pss': return ['PS256', 'PS384', 'PS512']
    case 'ec': {
      const curve = key.asymmetricKeyDetails?.namedCurve
      if (curve === 'prime256v1') return ['ES256']
      if (curve === 'secp384r1') return ['ES384']
      if (curve === 'secp521r1') return ['ES512']
      return fail(`JWT public key uses curve ${curve}, which JWT does not define`)
    }
    case 'ed25519': return ['EdDSA']
    default: return fail(`JWT public key type ${key.asymmetricKeyType} is not supported`)
  }
}

/** JWT_PUBLIC_KEY holds PEM text (newlines may be written as \n) or the path of a PEM file. */
function readPem(value: string | undefined): string | undefined {
  if (value === undefined || value === '') return undefined
  if (value.includes('-----BEGIN')) return value.replace(/\\n/g, '\n')
  try {
    return readFileSync(value, 'utf8')
  } catch (error) {
    return fail(`JWT_PUBLIC_KEY is neither PEM text nor a readable file: ${(error as Error).message}`)
  }
}
