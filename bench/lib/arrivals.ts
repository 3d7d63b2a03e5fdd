// Counting what the generator's clients receive, so that a phase can wait until every
// message it sent has arrived: one counter for all clients, bumped by their handler.
export class Arrivals {
  received = 0
  expected = 0
  private wake: (() => void) | undefined

  /** Call once per message any client receives. */
  count(): void {
    if (++this.received === this.expected && this.wake) this.wake()
  }

  /** Resolves once `count` more messages have arrived than were expected before. */
  expect(count: number): Promise<void> {
    this.expected += count
    if (this.received >= this.expected) return Promise.resolve()
    return new Promise((resolve) => { this.wake = resolve })
  }
}
