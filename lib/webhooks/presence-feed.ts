// Where user.online and user.offline come from. One node: this process's hub knows every
// connection, so its connects and disconnects are the transitions. A cluster: presence
// in Redis, whose scripts see each transition on exactly one node (lib/redis/presence.ts).
// Either way a user who goes offline is only pending at first: coming back within the
// debounce cancels it, and a claim after the debounce takes it, once.
import type { Connection } from '../hub/connection.js'
import type { Hub } from '../hub/hub.js'
import type { RedisPresence } from '../redis/presence.js'

export interface OfflineUser {
  uid: string
  /** When the user's last connection went, in ms since the epoch. */
  since: number
}

export interface PresenceFeed {
  /** From now on, hands users who come online to `online`, and keeps those who go offline for claimOffline(). */
  start(online: (uid: string, time: number) => void): void
  /** Users offline for at least `delayMs` who did not come back; each is claimed once, at most `limit`. */
  claimOffline(delayMs: number, limit: number): Promise<OfflineUser[]>
  /**
   * At shutdown: the pending users no one else will claim, whatever their due time, and
   * stops. One node: all of them (the hub is going away with their connections). A
   * cluster: none; the other nodes claim them.
   */
  drain(): OfflineUser[]
}

/** One node: the hub's connects and disconnects. */
export class LocalPresenceFeed implements PresenceFeed {
  /** Users with no connection left, by when they went; insertion order is time order. */
  private readonly pending = new Map<string, number>()
  private online: (uid: string, time: number) => void = () => {}

  constructor(private readonly hub: Hub) {}

  start(online: (uid: string, time: number) => void): void {
    this.online = online
    this.hub.on('connect', this.onConnect).on('disconnect', this.onDisconnect)
  }

  async claimOffline(delayMs: number, limit: number): Promise<OfflineUser[]> {
    const dueBy = Date.now() - delayMs
    const claimed: OfflineUser[] = []
    for (const [uid, since] of this.pending) {
      if (since > dueBy || claimed.length >= limit) break
      this.pending.delete(uid)
      claimed.push({ uid, since })
    }
    return claimed
  }

  drain(): OfflineUser[] {
    this.hub.off('connect', this.onConnect).off('disconnect', this.onDisconnect)
    const all = [...this.pending].map(([uid, since]) => ({ uid, since }))
    this.pending.clear()
    return all
  }

  private readonly onConnect = (connection: Connection): void => {
    if (this.hub.connectionsOf(connection.uid) !== 1) return
    // Back within the debounce: neither an offline nor a second online.
    if (this.pending.delete(connection.uid)) return
    this.online(connection.uid, Date.now())
  }

  private readonly onDisconnect = (connection: Connection): void => {
    if (this.hub.connectionsOf(connection.uid) === 0) this.pending.set(connection.uid, Date.now())
  }
}

/** A cluster: the transitions this node's presence scripts saw, and offline-pending in Redis. */
export class ClusterPresenceFeed implements PresenceFeed {
  constructor(private readonly presence: RedisPresence) {}

  start(online: (uid: string, time: number) => void): void {
    this.presence.trackTransitions({
      online: (uids) => {
        const now = Date.now()
        for (const uid of uids) online(uid, now)
      },
    })
  }

  claimOffline(delayMs: number, limit: number): Promise<OfflineUser[]> {
    return this.presence.claimOffline(delayMs, limit)
  }

  // Tracking stays on: this node's own reap, as it leaves, must still record its users.
  drain(): OfflineUser[] {
    return []
  }
}
