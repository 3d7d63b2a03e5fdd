// Who is connected where, kept in Redis so that any node can find the nodes that hold
// a user. Every operation is idempotent (absolute counts, not increments), so after a
// Redis restart or a lost update a node simply writes its whole state again.
//
// Keys, under the configured prefix:
//   nodes              zset  node id -> lease expiry (ms, Redis clock)
//   node:<id>          hash  c: connections, u: users on that node (for cluster totals)
//   node:<id>:users    set   uids that node holds (to clean up after it)
//   presence:<uid>     hash  node id -> connections of uid on that node
//   users              set   uids online anywhere (SCARD: users online in the cluster)
// A node renews its lease every ttl/5. When one stops (SIGKILL) its lease runs out and
// the next node to renew reaps its entries; until then relays to it find no subscriber.
import type { Redis } from 'ioredis'

const SET_PRESENCE = `
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  redis.call('SADD', KEYS[3], ARGV[3])
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[3])
  if redis.call('EXISTS', KEYS[1]) == 0 then redis.call('SREM', KEYS[3], ARGV[3]) end
end
return 1`

// Renews this node's lease and reports the cluster: live nodes, their connections,
// users online, nodes whose lease ran out, and whether this node had to be re-added.
const LEASE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local added = redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('HSET', KEYS[2], 'c', ARGV[3], 'u', ARGV[4])
redis.call('PEXPIRE', KEYS[2], tonumber(ARGV[2]) * 2)
local live = redis.call('ZRANGEBYSCORE', KEYS[1], now, '+inf')
local connections = 0
for _, node in ipairs(live) do
  connections = connections + tonumber(redis.call('HGET', ARGV[5] .. 'node:' .. node, 'c') or '0')
end
local expired = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. now, 'LIMIT', 0, 16)
return { added, live, connections, redis.call('SCARD', ARGV[5] .. 'users'), expired }`

// Removes a node and every trace of it from presence.
const REAP = `
local uids = redis.call('SMEMBERS', KEYS[2])
for _, uid in ipairs(uids) do
  local key = ARGV[2] .. 'presence:' .. uid
  redis.call('HDEL', key, ARGV[1])
  if redis.call('EXISTS', key) == 0 then redis.call('SREM', KEYS[3], uid) end
end
redis.call('DEL', KEYS[2], KEYS[4])
redis.call('ZREM', KEYS[1], ARGV[1])
return #uids`

interface PresenceCommands {
  pusherSetPresence(k1: string, k2: string, k3: string, node: string, count: number, uid: string): Promise<number>
  pusherLease(k1: string, k2: string, node: string, ttl: number, connections: number, users: number, prefix: string): Promise<[number, string[], number, number, string[]]>
  pusherReap(k1: string, k2: string, k3: string, k4: string, node: string, prefix: string): Promise<number>
}

export interface LocalState {
  connectionCount: number
  userCount: number
  /** Every local user with its connection count. */
  userConnections(): Iterable<[uid: string, connections: number]>
}

export interface LeaseResult {
  /** This node was missing from the cluster (Redis restarted, or it was reaped): write everything again. */
  rejoined: boolean
  live: Set<string>
  connections: number
  users: number
  expired: string[]
}

export class RedisPresence {
  private readonly redis: Redis & PresenceCommands

  constructor(
    redis: Redis,
    private readonly prefix: string,
    readonly nodeId: string,
  ) {
    redis.defineCommand('pusherSetPresence', { numberOfKeys: 3, lua: SET_PRESENCE })
    redis.defineCommand('pusherLease', { numberOfKeys: 2, lua: LEASE })
    redis.defineCommand('pusherReap', { numberOfKeys: 4, lua: REAP })
    this.redis = redis as Redis & PresenceCommands
  }

  /** Nodes holding `uid`, with their connection counts. */
  async holders(uid: string): Promise<Record<string, string>> {
    return this.redis.hgetall(`${this.prefix}presence:${uid}`)
  }

  /** holders() for many uids in one round trip. */
  async holdersOfMany(uids: string[]): Promise<Array<Record<string, string>>> {
    const pipeline = this.redis.pipeline()
    for (const uid of uids) pipeline.hgetall(`${this.prefix}presence:${uid}`)
    const replies = (await pipeline.exec()) ?? []
    return replies.map(([error, value]) => {
      if (error) throw error
      return value as Record<string, string>
    })
  }

  /** Records this node's connection count for each uid (0: none left), in one round trip. */
  async write(counts: Iterable<[uid: string, connections: number]>): Promise<void> {
    const pipeline = this.redis.pipeline() as unknown as PresenceCommands & { exec(): Promise<Array<[Error | null, unknown]> | null> }
    const p = this.prefix
    let any = false
    for (const [uid, count] of counts) {
      any = true
      pipeline.pusherSetPresence(`${p}presence:${uid}`, `${p}node:${this.nodeId}:users`, `${p}users`, this.nodeId, count, uid)
    }
    if (!any) return
    for (const [error] of (await pipeline.exec()) ?? []) if (error) throw error
  }

  /**
   * Writes this node's whole presence again (after Redis restarted, or an update failed):
   * every local user's count, and 0 for the users Redis still lists for this node that
   * it no longer holds, so that they go offline instead of lingering.
   */
  async rewrite(local: () => Iterable<[uid: string, connections: number]>): Promise<void> {
    const recorded = await this.redis.smembers(`${this.prefix}node:${this.nodeId}:users`)
    // Counted after the read, so that what is written is as fresh as a dirty write's.
    const counts = new Map(local())
    for (const uid of recorded) if (!counts.has(uid)) counts.set(uid, 0)
    await this.write(counts)
  }

  async lease(ttlMs: number, local: LocalState): Promise<LeaseResult> {
    const p = this.prefix
    const [added, live, connections, users, expired] = await this.redis.pusherLease(
      `${p}nodes`, `${p}node:${this.nodeId}`, this.nodeId, ttlMs, local.connectionCount, local.userCount, p)
    return { rejoined: added === 1, live: new Set(live), connections, users, expired }
  }

  /** Removes `node` (a dead one, or this one leaving) from presence. */
  async reap(node: string): Promise<number> {
    const p = this.prefix
    return this.redis.pusherReap(`${p}nodes`, `${p}node:${node}:users`, `${p}users`, `${p}node:${node}`, node, p)
  }
}
