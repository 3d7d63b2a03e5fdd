// When and how the client refreshes its token on an open connection. It reads the JWT's
// `exp` without verifying the token (only the hub can, and does); a token it cannot read,
// or without `exp`, is never refreshed in-band: the hub never closes its connection
// for expiry either. Browser-safe: atob and TextDecoder, no Buffer.
import { refreshFrame } from './frames.js'

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

/** The connection a refresh goes out on. */
export interface RefreshLink {
  send(frame: string): void
  /** Still the client's connection, open, and the client not closed. */
  live(): boolean
}

/**
 * The in-band refresh of one client: a timer per connection, at refreshDelay() before its
 * credentials expire, that asks the token function for a fresh token and sends it as a
 * refresh frame. Only with a token function: a fixed token cannot be renewed.
 */
export class InBandRefresh {
  private timer: ReturnType<typeof setTimeout> | undefined
  /** When the current connection's credentials expire, as the hub last said (ms since the epoch). */
  private expiresAt: number | undefined
  /** A refresh frame was sent on the current connection and not answered yet. */
  private sent = false
  /** Cleared once a hub would not take a refresh frame (older than refresh, or the token too large for it). */
  private inBand = true

  constructor(
    private readonly tokenFunction: (() => string | Promise<string>) | undefined,
    private readonly reportError: (error: unknown) => void,
  ) {}

  /** Plans the next refresh on `link`, whose credentials expire at `expiresAt` (a connection opened, or the hub took a refresh). */
  schedule(link: RefreshLink, expiresAt: number | null | undefined): void {
    this.stop()
    this.expiresAt = expiresAt ?? undefined
    if (expiresAt == null || this.tokenFunction === undefined || !this.inBand) return
    const delay = refreshDelay(expiresAt, Date.now())
    if (delay !== undefined) this.timer = setTimeout(() => void this.refresh(link), delay)
  }

  /** The hub answered a refresh frame with `{"type":"refreshed","expiresAt"}`. */
  refreshed(link: RefreshLink, expiresAt: number | null): void {
    this.sent = false
    this.schedule(link, expiresAt)
  }

  /**
   * The connection closed, with a code that means the hub refused a frame (`refusedFrame`).
   * True when that frame was a refresh: a hub older than refresh (1008, unknown frame type;
   * in a rolling upgrade) or a token larger than its frame limit (1009). Another refresh
   * would fail the same way, but a reconnect, with the token in the handshake, not: no
   * more in-band refreshes for this client.
   */
  closed(refusedFrame: boolean): boolean {
    this.stop()
    const refused = refusedFrame && this.sent
    this.sent = false
    if (refused) this.inBand = false
    return refused
  }

  stop(): void {
    clearTimeout(this.timer)
    this.timer = undefined
  }

  /** Asks the token function for a fresh token and sends it on `link`, if that is still the connection. */
  private async refresh(link: RefreshLink): Promise<void> {
    this.timer = undefined
    if (!link.live() || this.tokenFunction === undefined) return
    let token: string
    try {
      token = await this.tokenFunction()
    } catch (error) {
      // No retry: at exp the hub closes with 4001, and the reconnect asks again.
      if (link.live()) this.reportError(error)
      return
    }
    if (!link.live()) return
    // A token function that caches its token may hand back the one in use: sending it
    // would move nothing, and the next refresh, at half the shorter remaining life, would
    // ask again and again. Let the hub close at exp (4001); the reconnect asks once more.
    const expiresAt = tokenExpiresAt(token)
    if (expiresAt !== undefined && this.expiresAt !== undefined && expiresAt <= this.expiresAt) return
    this.sent = true
    link.send(refreshFrame(token))
  }
}
