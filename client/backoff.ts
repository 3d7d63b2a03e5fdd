// Reconnect delays: exponential backoff with "full jitter" (AWS Architecture Blog,
// "Exponential Backoff And Jitter"). Spreading every delay over [0, cap) keeps a
// crowd of clients that lost the same server from reconnecting in lockstep.

/** How long to wait between connection attempts. */
export interface BackoffOptions {
  /** Upper bound of the first delay, in ms. Default 500. */
  initialMs?: number
  /** No delay is longer than this, in ms. Default 30000. */
  maxMs?: number
}

export const DEFAULT_BACKOFF = { initialMs: 500, maxMs: 30_000 } as const

/**
 * The delay before reconnect attempt `attempt` (0 for the first retry):
 * `random() * min(maxMs, initialMs * 2^attempt)`. `random` returns a number in [0, 1),
 * like Math.random, and is a parameter so tests can pin it.
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}, random: () => number = Math.random): number {
  const initialMs = options.initialMs ?? DEFAULT_BACKOFF.initialMs
  const maxMs = options.maxMs ?? DEFAULT_BACKOFF.maxMs
  // 2 ** attempt overflows to Infinity for huge attempts; min() then gives maxMs, as intended.
  const cap = Math.min(maxMs, initialMs * 2 ** Math.max(0, attempt))
  return Math.floor(random() * cap)
}
