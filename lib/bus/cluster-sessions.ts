// Session control across the cluster, for the Redis bus: presence read from the
// presence hashes, kicks relayed to the nodes that hold the user, revocations kept in
// Redis and published to every node. The bus hands over what it owns (the hub, the
// Redis commands, its view of live nodes, how to publish); this file decides.
import type { Redis } from 'ioredis'
import type { Revocation, Revocations } from '../auth/revocations.js'
import { PusherError } from '../errors.js'
import type { Hub } from '../hub/hub.js'
import type { RedisPresence } from '../redis/presence.js'
import { RedisRevocations } from '../redis/revocations.js'
import type { Disconnection, UserPresence } from './bus.js'
import { encodeKick, encodeRevoke } from './relay-codec.js'

/** Expired revocations are pruned from Redis this often, by each node. */
const REVOCATION_PRUNE_MS = 60_000

export interface ClusterSessionsOwner {
  hub: Hub
  nodeId: string
  prefix: string
  commands: Redis
  presence: RedisPresence
  /** The list the connect check reads; kept the same as Redis's. */
  revocations: Revocations
  /** Nodes whose lease holds, as of the last renewal; empty before the first. */
  liveNodes(): ReadonlySet<string>
  /** Publishes to one node's relay channel; true if it was received. */
  publishTo(node: string, payload: Buffer): Promise<boolean>
  /** Publishes to every node (the broadcast channel); resolves with how many received it. */
  publishToAll(payload: Buffer): Promise<number>
  warn(message: string): void
}

export class ClusterSessions {
  private readonly kept: RedisRevocations
  private lastPrune = 0

  constructor(private readonly owner: ClusterSessionsOwner) {
    this.kept = new RedisRevocations(owner.commands, owner.prefix)
  }

  /** Each user's connections on every live node: this node's counted live, the others' as they last wrote them. */
  async presenceOf(uids: string[]): Promise<UserPresence[]> {
    const { hub, nodeId, presence } = this.owner
    let holders: Array<Record<string, string>>
    try {
      holders = await presence.holdersOfMany(uids)
    } catch {
      throw new PusherError.CLUSTER_UNAVAILABLE()
    }
    const live = this.owner.liveNodes()
    return uids.map((uid, i) => {
      // A dead node's entries stay until the reaper removes them: only nodes whose lease holds count.
      let connections = hub.connectionsOf(uid)
      let nodes = connections > 0 ? 1 : 0
      for (const node in holders[i]) {
        if (node === nodeId || (live.size > 0 && !live.has(node))) continue
        const count = Number(holders[i]![node])
        if (count <= 0) continue
        connections += count
        nodes++
      }
      return { uid, online: connections > 0, connections, nodes }
    })
  }

  /** Closes the user's connections here, and relays the kick to every other node holding the user. */
  async disconnect(uid: string, reconnect: boolean): Promise<Disconnection> {
    const { hub, nodeId, presence } = this.owner
    const local = hub.disconnect(uid, { reconnect })
    let holders: Record<string, string>
    try {
      holders = await presence.holders(uid)
    } catch {
      if (local > 0) return { disconnected: local, nodes: 1, partial: true }
      throw new PusherError.CLUSTER_UNAVAILABLE()
    }
    let disconnected = local
    let nodes = local > 0 ? 1 : 0
    let partial = false
    const payload = encodeKick(uid, reconnect)
    await Promise.all(Object.keys(holders).filter((node) => node !== nodeId).map(async (node) => {
      try {
        if (!(await this.owner.publishTo(node, payload))) return
      } catch {
        partial = true
        return
      }
      disconnected += Number(holders[node])
      nodes++
    }))
    if (partial && disconnected === 0) throw new PusherError.CLUSTER_UNAVAILABLE()
    return partial ? { disconnected, nodes, partial } : { disconnected, nodes }
  }

  /**
   * Records a revocation in Redis (it must outlive this node and reach nodes that start
   * later), publishes it to every node, and applies it here. Resolves with the cut in
   * force and how many nodes received it.
   */
  async revoke(uid: string, revocation: Revocation): Promise<{ inForce: Revocation; nodes: number }> {
    let inForce: Revocation
    let receivers: number
    try {
      inForce = await this.kept.record(uid, revocation)
      receivers = await this.owner.publishToAll(encodeRevoke(this.owner.nodeId, uid, inForce.cutMs, inForce.untilMs))
    } catch {
      throw new PusherError.CLUSTER_UNAVAILABLE()
    }
    this.apply(uid, inForce)
    return { inForce, nodes: Math.max(1, receivers) }
  }

  /** A kick relayed from another node. */
  onKick(uid: string, reconnect: boolean): void {
    this.owner.hub.disconnect(uid, { reconnect })
  }

  /** A revocation published by a node (this one's own was applied already). */
  onRevoke(origin: string, uid: string, revocation: Revocation): void {
    if (origin !== this.owner.nodeId) this.apply(uid, revocation)
  }

  /** Reads every revocation in force from Redis: at start, and after the subscriber was away. Resolves with whether it could. */
  async load(): Promise<boolean> {
    try {
      for (const [uid, revocation] of await this.kept.load()) this.apply(uid, revocation)
      return true
    } catch (error) {
      this.owner.warn(`could not read the revocations from Redis: ${(error as Error).message}`)
      return false
    }
  }

  /** At most once a minute: forgets the revocations that ran out, in Redis and here. */
  async prune(): Promise<void> {
    if (Date.now() - this.lastPrune < REVOCATION_PRUNE_MS) return
    this.lastPrune = Date.now()
    await this.kept.prune()
    this.owner.revocations.prune()
  }

  private apply(uid: string, revocation: Revocation): void {
    const inForce = this.owner.revocations.add(uid, revocation)
    this.owner.hub.revoke(uid, inForce.cutMs)
  }
}
