// Typed event emitters small enough for a browser bundle (node:events is not there).

export type Listener<T> = (value: T) => void

/** The listeners of events that each carry one value. */
export type ListenersOf<Events> = { [K in keyof Events]: Listener<Events[K]> }

/**
 * An emitter typed by its listeners, so that an event may hand them several arguments
 * (a subscription's message: its data, then where and when it was published).
 */
export class ListenersEmitter<Listeners extends { [K in keyof Listeners]: (...args: never[]) => void }> {
  private readonly listeners: { [K in keyof Listeners]?: Set<Listeners[K]> } = {}

  /** Adds a listener; returns a function that removes it. */
  on<K extends keyof Listeners>(type: K, listener: Listeners[K]): () => void {
    let set = this.listeners[type]
    if (set === undefined) this.listeners[type] = set = new Set()
    set.add(listener)
    return () => this.off(type, listener)
  }

  off<K extends keyof Listeners>(type: K, listener: Listeners[K]): void {
    this.listeners[type]?.delete(listener)
  }

  protected hasListeners(type: keyof Listeners): boolean {
    return (this.listeners[type]?.size ?? 0) > 0
  }

  /**
   * Calls every listener of `type`. A listener that throws does not stop the others nor
   * the caller: its error goes to listenerThrew.
   */
  protected emit<K extends keyof Listeners>(type: K, ...args: Parameters<Listeners[K]>): void {
    const set = this.listeners[type]
    if (set === undefined) return
    for (const listener of [...set]) {
      try {
        (listener as (...values: Parameters<Listeners[K]>) => void)(...args)
      } catch (thrown) {
        this.listenerThrew(thrown instanceof Error ? thrown : new Error(String(thrown)), type)
      }
    }
  }

  /** What becomes of an error a `type` listener threw: rethrown on its own task, where the runtime reports it. */
  protected listenerThrew(error: Error, _type: keyof Listeners): void {
    setTimeout(() => { throw error })
  }
}

/**
 * An emitter of events that each carry one value, `error` among them. Typed by the
 * values rather than the listeners, so that code generic over the event names
 * (`on<K extends keyof Events>(type: K, listener: Listener<Events[K]>)`) type-checks.
 */
export class Emitter<Events extends { error: Error }> extends ListenersEmitter<ListenersOf<Events>> {
  override on<K extends keyof Events>(type: K, listener: Listener<Events[K]>): () => void {
    return super.on(type, listener)
  }

  override off<K extends keyof Events>(type: K, listener: Listener<Events[K]>): void {
    super.off(type, listener)
  }

  /**
   * An error thrown by a listener goes to the `error` listeners; one thrown by an
   * `error` listener is rethrown on its own task.
   */
  protected override listenerThrew(error: Error, type: keyof Events): void {
    if (type === 'error') super.listenerThrew(error, type)
    // Events['error'] is an Error: TypeScript cannot see through ListenersOf that the argument fits.
    else this.emit('error', ...([error] as Parameters<ListenersOf<Events>['error']>))
  }
}
