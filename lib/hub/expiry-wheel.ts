// Ends connections when the credentials they were opened with expire, with one timer
// for the whole hub instead of one per connection (a Timeout costs more memory than
// the rest of an idle connection's bookkeeping). Expiry times fall into slots of
// `resolutionMs`; each tick takes the slots that came due since the last one, so a
// tick costs the connections it ends, however many are scheduled for later. Nothing
// ends before its time; each ends at most `resolutionMs` after it.

export class ExpiryWheel<T> {
  private readonly slots = new Map<number, Set<T>>()
  /** Every slot up to this one has been taken. */
  private lastTaken: number
  private timer: NodeJS.Timeout | undefined
  private scheduled = 0

  constructor(
    private readonly onExpired: (item: T) => void,
    private readonly resolutionMs = 250,
    private readonly now: () => number = Date.now,
  ) {
    this.lastTaken = this.slotOf(this.now()) - 1
  }

  /** Items waiting for their time. */
  get size(): number {
    return this.scheduled
  }

  /**
   * Schedules `item` to expire at `atMs` (ms since the epoch) and returns its slot, which
   * cancel() needs. A time already past expires it at the next tick.
   */
  schedule(item: T, atMs: number): number {
    // After an idle spell the next tick would walk every empty slot since: start from now.
    if (this.scheduled === 0) this.lastTaken = Math.max(this.lastTaken, this.slotOf(this.now()) - 1)
    const slot = Math.max(this.slotOf(atMs), this.lastTaken + 1)
    let items = this.slots.get(slot)
    if (items === undefined) this.slots.set(slot, (items = new Set()))
    items.add(item)
    this.scheduled++
    if (this.timer === undefined) {
      this.timer = setInterval(this.tick, this.resolutionMs)
      this.timer.unref()
    }
    return slot
  }

  /** Forgets `item`, scheduled in `slot`; returns false if it was not there (already expired). */
  cancel(item: T, slot: number): boolean {
    const items = this.slots.get(slot)
    if (items === undefined || !items.delete(item)) return false
    this.scheduled--
    if (items.size === 0) this.slots.delete(slot)
    if (this.scheduled === 0) this.stop()
    return true
  }

  stop(): void {
    clearInterval(this.timer)
    this.timer = undefined
  }

  /** Expires everything whose slot has come. */
  readonly tick = (): void => {
    // A slot is due once its whole span has passed: nothing expires early.
    const due = this.slotOf(this.now()) - 1
    while (this.lastTaken < due) {
      const slot = ++this.lastTaken
      const items = this.slots.get(slot)
      if (items === undefined) continue
      this.slots.delete(slot)
      this.scheduled -= items.size
      for (const item of items) this.onExpired(item)
    }
    if (this.scheduled === 0) this.stop()
  }

  private slotOf(atMs: number): number {
    return Math.floor(atMs / this.resolutionMs)
  }
}
