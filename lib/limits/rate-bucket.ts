// A token bucket in two numbers: what a client may still do now, refilled at a rate up
// to a burst. Starts full without reading the clock: the first take refills it from
// the beginning of time.

export class RateBucket {
  private tokens = 0
  private at = Number.NEGATIVE_INFINITY

  /** Takes one token at `now` (ms); false when the bucket is empty. */
  take(perSecond: number, burst: number, now: number): boolean {
    this.tokens = Math.min(burst, this.tokens + ((now - this.at) * perSecond) / 1000)
    this.at = now
    if (this.tokens < 1) return false
    this.tokens--
    return true
  }
}
