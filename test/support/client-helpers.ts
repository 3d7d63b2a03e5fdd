// Fixtures for tests of the client library in Node: a client with quick reconnects,
// its next event, and a list of what arrives that a test can wait on.
import { WebSocket } from 'ws'
import { PusherClient, type PusherClientEvents, type PusherClientOptions } from '../../client/index.js'
import type { TestHub } from './helpers.js'

/** A client of `<hub>/ws` with `ws`; short delays keep reconnects quick (the test of backoffDelay covers the defaults). */
export function client(hub: TestHub | string, options: Partial<PusherClientOptions>): PusherClient {
  const base = typeof hub === 'string' ? hub : hub.wsUrl
  return new PusherClient({ url: `${base}/ws`, token: '', WebSocket, backoff: { initialMs: 10, maxMs: 50 }, ...options })
}

/** The next `type` event of `pusher`. */
export function next<K extends keyof PusherClientEvents>(pusher: PusherClient, type: K): Promise<PusherClientEvents[K]> {
  return new Promise((resolve) => {
    const off = pusher.on(type, (value) => {
      off()
      resolve(value)
    })
  })
}

/** Things that arrive in order, and a way to wait for the first `count`. */
export function collector<T>() {
  const items: T[] = []
  const waiters = new Set<() => void>()
  return {
    items,
    push(item: T) {
      items.push(item)
      for (const wake of waiters) wake()
    },
    async first(count: number): Promise<T[]> {
      while (items.length < count) {
        await new Promise<void>((resolve) => {
          const wake = () => waiters.delete(wake) && resolve()
          waiters.add(wake)
        })
      }
      return items.slice(0, count)
    },
  }
}
