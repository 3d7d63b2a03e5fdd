// A typed event emitter small enough for a browser bundle (node:events is not there).

export type Listener<T> = (value: T) => void

export class Emitter<Events extends { error: Error }> {
  private readonly listeners: { [K in keyof Events]?: Set<Listener<Events[K]>> } = {}

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    let set = this.listeners[type]
    if (set === undefined) this.listeners[type] = set = new Set()
    set.add(listener)
    return () => this.off(type, listener)
  }

  off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    this.listeners[type]?.delete(listener)
  }

  /**
   * Calls every listener of `type`. A listener that throws does not stop the others nor
   * the caller: its error goes to the `error` listeners, and an error thrown by an
   * `error` listener is rethrown on its own task, where the runtime reports it.
   */
  protected emit<K extends keyof Events>(type: K, value: Events[K]): void {
    const set = this.listeners[type]
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        listener(value)
      } catch (thrown) {
        const error = thrown instanceof Error ? thrown : new Error(String(thrown))
        if (type === 'error') setTimeout(() => { throw error })
        else this.emit('error', error as Events['error'])
      }
    }
  }
}
