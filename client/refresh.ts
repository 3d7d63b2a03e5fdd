// When the client refreshes its token on an open connection. It reads the JWT's `exp`
// without verifying the token (only the hub can, and does); a token it cannot read,
// or without `exp`, is never refreshed in-band: the hub never closes its connection
// for expiry either. Browser-safe: atob and TextDecoder, no Buffer.

/** Refresh no later than this long before `exp`, so a slow token endpoint still beats it. */
const REFRESH_MARGIN_MS = 30_000
/** ...and once this share of the remaining life has passed, whichever comes first. */
const REFRESH_AT_SHARE = 0.8
/**
 * ...but never before half of it: with tokens shorter than the margin, "30 s before
 * exp" has already passed, and refreshing at once would loop as fast as tokens come.
 */
const EARLIEST_SHARE = 0.5

/** The JWT's `exp` in ms since the epoch; undefined when `token` is not a JWT or has none. */
export function tokenExpiresAt(token: string): number | undefined {
  const payload = token.split('.')[1]
  if (payload === undefined || payload === '') return undefined
  try {
    const base64 = payload.replace(/-/g, '+').replace(/_/g, '/').padEnd(Math.ceil(payload.length / 4) * 4, '=')
    const bytes = Uint8Array.from(atob(base64), (char) => char.charCodeAt(0))
    const { exp } = JSON.parse(new TextDecoder().decode(bytes)) as { exp?: unknown }
    return typeof exp === 'number' && Number.isFinite(exp) ? exp * 1000 : undefined
  } catch {
    return undefined
  }
}

/**
 * How long from `now` to wait before refreshing credentials that expire at `expiresAt`
 * (ms since the epoch): at 80% of the remaining life, or 30 s before it ends, whichever
 * is sooner, but not before half of it. Undefined when they have already expired:
 * too late to refresh; the hub closes the connection with 4001 and the client reconnects.
 */
export function refreshDelay(expiresAt: number, now: number): number | undefined {
  const remaining = expiresAt - now
  if (remaining <= 0) return undefined
  const soonest = Math.min(remaining * REFRESH_AT_SHARE, remaining - REFRESH_MARGIN_MS)
  return Math.floor(Math.max(soonest, remaining * EARLIEST_SHARE))
}
