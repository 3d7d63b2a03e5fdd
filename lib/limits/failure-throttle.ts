// Repeated authentication failures from one client address (bad API keys, bad tokens)
// are answered 429 before any verification work once they pass a budget per window:
// a storm of bad credentials then costs a map lookup per request, and good clients from
// other addresses are never affected. @fastify/rate-limit counts every request, so a
// check before verification would count good requests too; here only failures count.

export interface FailureThrottleOptions {
  /** Failures an address may have per window before it is refused; 0 turns the throttle off. */
  maxFailures: number
  windowMs: number
  /** Addresses tracked at once; past it the oldest entry is forgotten, so memory stays bounded. */
  maxTracked?: number
}

interface Window {
  startedAt: number
  failures: number
}

export class FailureThrottle {
  private readonly windows = new Map<string, Window>()
  private readonly maxTracked: number

  constructor(private readonly options: FailureThrottleOptions) {
    this.maxTracked = options.maxTracked ?? 100_000
  }

  /** Ms until `address` may try again, or 0 when it is not throttled. */
  retryAfterMs(address: string, now = Date.now()): number {
    if (this.options.maxFailures === 0) return 0
    const window = this.windows.get(address)
    if (window === undefined || window.failures < this.options.maxFailures) return 0
    const left = window.startedAt + this.options.windowMs - now
    if (left > 0) return left
    this.windows.delete(address)
    return 0
  }

  /** Counts one failed authentication from `address`. */
  recordFailure(address: string, now = Date.now()): void {
    if (this.options.maxFailures === 0) return
    let window = this.windows.get(address)
    if (window === undefined || now - window.startedAt >= this.options.windowMs) {
      // Re-inserted, so that Map order stays oldest window first for the eviction below.
      this.windows.delete(address)
      if (this.windows.size >= this.maxTracked) this.windows.delete(this.windows.keys().next().value!)
      window = { startedAt: now, failures: 0 }
      this.windows.set(address, window)
    }
    window.failures++
  }

  /** No address has failed lately: nothing to look up (a client's address costs a system call the first time). */
  get quiet(): boolean {
    return this.windows.size === 0
  }

  /** Addresses with a window open (for tests and the memory bound). */
  get tracked(): number {
    return this.windows.size
  }
}
