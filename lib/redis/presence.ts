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
//   offline-pending    zset  uid -> when it went offline everywhere (ms, Redis clock); kept
//                            only while webhooks watch transitions (see trackTransitions)
// A node renews its lease every ttl/5. When one stops (SIGKILL) its lease runs out and
// the next node to renew reaps its entries; until then relays to it find no subscriber.
//
// Transitions: the script that adds a user to `users` saw them come online anywhere, and
// the one that removes them saw them go offline everywhere; Redis runs scripts one at a
// time, so each transition is seen by exactly one node. Going offline only records the
// user in offline-pending; coming back before claimOffline() takes the entry removes it
// in the same script, and is then no new online either (a reconnect does not flap).
import type { Redis } from 'ioredis'

// KEYS: presence:<uid>, node:<id>:users, users, offline-pending. ARGV: node, count, uid,
// track ('1': record offline-pending). Returns 1 when the user came online anywhere.
const SET_PRESENCE = `
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
  redis.call('SADD', KEYS[2], ARGV[3])
  if redis.call('SADD', KEYS[3], ARGV[3]) == 1 then
    if redis.call('ZREM', KEYS[4], ARGV[3]) == 1 then return 0 end
    return 1
  end
else
  redis.call('HDEL', KEYS[1], ARGV[1])
  redis.call('SREM', KEYS[2], ARGV[3])
  if redis.call('EXISTS', KEYS[1]) == 0 and redis.call('SREM', KEYS[3], ARGV[3]) == 1 and ARGV[4] == '1' then
    local t = redis.call('TIME')
    redis.call('ZADD', KEYS[4], tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000), ARGV[3])
  end
end
return 0`

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

// Removes a node and every trace of it from presence; its users held nowhere else went
// offline (recorded in offline-pending with ARGV[3] '1', as SET_PRESENCE does).
const REAP = `
local uids = redis.call('SMEMBERS', KEYS[2])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
for _, uid in ipairs(uids) do
  local key = ARGV[2] .. 'presence:' .. uid
  redis.call('HDEL', key, ARGV[1])
  if redis.call('EXISTS', key) == 0 and redis.call('SREM', KEYS[3], uid) == 1 and ARGV[3] == '1' then
    redis.call('ZADD', KEYS[5], now, uid)
  end
end
redis.call('DEL', KEYS[2], KEYS[4])
redis.call('ZREM', KEYS[1], ARGV[1])
return #uids`

// Takes the users whose offline debounce (ARGV[1] ms) is over out of offline-pending, and
// returns those still offline with when they went: uid, ms, uid, ms... Removed here, so
// whichever node's claim took a user is the only one to report it.
const CLAIM_OFFLINE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local due = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', now - tonumber(ARGV[1]), 'WITHSCORES', 'LIMIT', 0, tonumber(ARGV[2]))
local out = {}
for i = 1, #due, 2 do
  redis.call('ZREM', KEYS[1], due[i])
  if redis.call('SISMEMBER', KEYS[2], due[i]) == 0 then
    table.insert(out, due[i])
    table.insert(out, due[i + 1])
  end
end
return out`

// KEYS: presence:<uid>. ARGV: this node, prefix, payload. A unicast in one round trip:
// the payload published to every other node that holds the user, and for each such node
// its connection count and whether its subscriber received it (node, count, received...).
const RELAY = `
local holders = redis.call('HGETALL', KEYS[1])
local out = {}
for i = 1, #holders, 2 do
  if holders[i] ~= ARGV[1] then
    table.insert(out, holders[i])
    table.insert(out, holders[i + 1])
    table.insert(out, redis.call('PUBLISH', ARGV[2] .. 'relay:' .. holders[i], ARGV[3]))
  end
end
return out`

interface PresenceCommands {
  pusherSetPresence(k1: string, k2: string, k3: string, k4: string, node: string, count: number, uid: string, track: string): Promise<number>
  pusherLease(k1: string, k2: string, node: string, ttl: number, connections: number, users: number, prefix: string): Promise<[number, string[], number, number, string[]]>
  pusherReap(k1: string, k2: string, k3: string, k4: string, k5: string, node: string, prefix: string, track: string): Promise<number>
  pusherClaimOffline(k1: string, k2: string, delayMs: number, limit: number): Promise<string[]>
  pusherRelay(k1: string, node: string, prefix: string, payload: Buffer): Promise<Array<string | number>>
}

/** Another node that holds a user, as a relay found it. */
export interface RelayTarget {
  node: string
  /** Its connections of the user, as it last wrote them. */
  connections: number
  /** Whether its subscriber received the relay (a dead node's did not). */
  received: boolean
}

/** Who hears the transitions this node's presence writes see (the webhooks). */
export interface PresenceTransitions {
  /** Users who came online anywhere in the cluster, as this node's write found them. */
  online(uids: string[]): void
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
  private transitions: PresenceTransitions | undefined

  constructor(
    redis: Redis,
    private readonly prefix: string,
    readonly nodeId: string,
  ) {
    redis.defineCommand('pusherSetPresence', { numberOfKeys: 4, lua: SET_PRESENCE })
    redis.defineCommand('pusherLease', { numberOfKeys: 2, lua: LEASE })
    redis.defineCommand('pusherReap', { numberOfKeys: 5, lua: REAP })
    redis.defineCommand('pusherClaimOffline', { numberOfKeys: 2, lua: CLAIM_OFFLINE })
    redis.defineCommand('pusherRelay', { numberOfKeys: 1, lua: RELAY })
    this.redis = redis as Redis & PresenceCommands
  }

  /**
   * Publishes `payload` to every other node holding `uid`, in one script: the lookup and
   * the publishes in one command and one round trip, instead of a read and then a publish.
   */
  async relay(uid: string, payload: Buffer): Promise<RelayTarget[]> {
    const flat = await this.redis.pusherRelay(`${this.prefix}presence:${uid}`, this.nodeId, this.prefix, payload)
    const targets: RelayTarget[] = []
    for (let i = 0; i + 2 < flat.length; i += 3) targets.push({ node: String(flat[i]), connections: Number(flat[i + 1]), received: Number(flat[i + 2]) > 0 })
    return targets
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

  /**
   * From now on (or, with undefined, no longer): users who go offline everywhere are kept
   * in offline-pending for claimOffline(), and the users this node's writes find coming
   * online anywhere are handed to `transitions`.
   */
  trackTransitions(transitions: PresenceTransitions | undefined): void {
    this.transitions = transitions
  }

  /**
   * Users who went offline everywhere at least `delayMs` ago and did not come back, with
   * when they went (ms since the epoch, Redis clock); at most `limit`. Each is claimed by
   * one caller only, whichever node it runs on.
   */
  async claimOffline(delayMs: number, limit: number): Promise<Array<{ uid: string; since: number }>> {
    const p = this.prefix
    const flat = await this.redis.pusherClaimOffline(`${p}offline-pending`, `${p}users`, delayMs, limit)
    const claimed: Array<{ uid: string; since: number }> = []
    for (let i = 0; i + 1 < flat.length; i += 2) claimed.push({ uid: flat[i]!, since: Number(flat[i + 1]) })
    return claimed
  }

  /** Records this node's connection count for each uid (0: none left), in one round trip. */
  async write(counts: Iterable<[uid: string, connections: number]>): Promise<void> {
    const pipeline = this.redis.pipeline() as unknown as PresenceCommands & { exec(): Promise<Array<[Error | null, unknown]> | null> }
    const p = this.prefix
    const track = this.tracking
    const uids: string[] = []
    for (const [uid, count] of counts) {
      uids.push(uid)
      pipeline.pusherSetPresence(`${p}presence:${uid}`, `${p}node:${this.nodeId}:users`, `${p}users`, `${p}offline-pending`, this.nodeId, count, uid, track)
    }
    if (uids.length === 0) return
    const replies = (await pipeline.exec()) ?? []
    const online: string[] = []
    replies.forEach(([error, cameOnline], i) => {
      if (error) throw error
      if (cameOnline === 1) online.push(uids[i]!)
    })
    if (online.length > 0) this.transitions?.online(online)
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
    return this.redis.pusherReap(`${p}nodes`, `${p}node:${node}:users`, `${p}users`, `${p}node:${node}`, `${p}offline-pending`, node, p, this.tracking)
  }

  private get tracking(): '1' | '0' {
    return this.transitions === undefined ? '0' : '1'
  }
}
