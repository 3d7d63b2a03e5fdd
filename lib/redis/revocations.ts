// Revocations kept in Redis for the whole cluster, so that a node that starts, or comes
// back after losing Redis (and with it the revocations published meanwhile), learns
// every cut in force. Each node also holds them in memory (lib/auth/revocations.ts):
// the connect check never waits for Redis.
//
// Keys, under the configured prefix:
//   revoked         hash  uid -> cut (ms since the epoch); a later cut wins
//   revoked:until   zset  uid -> when the cut is forgotten (ms), for pruning
import type { Redis } from 'ioredis'
import type { Revocation } from '../auth/revocations.js'

// Records a cut, keeping the later of it and the one already there, and answers the one
// now in force. '%.0f': a number of ms is past what Lua's default formatting prints whole.
const REVOKE = `
local cut = math.max(tonumber(redis.call('HGET', KEYS[1], ARGV[1]) or '0'), tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], ARGV[1], string.format('%.0f', cut))
redis.call('ZADD', KEYS[2], 'GT', ARGV[3], ARGV[1])
return { string.format('%.0f', cut), redis.call('ZSCORE', KEYS[2], ARGV[1]) }`

// Forgets the cuts whose time has passed.
const PRUNE = `
local gone = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
for _, uid in ipairs(gone) do redis.call('HDEL', KEYS[1], uid) end
if #gone > 0 then redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1]) end
return #gone`

interface RevocationCommands {
  pusherRevoke(hash: string, until: string, uid: string, cutMs: number, untilMs: number): Promise<[string, string]>
  pusherPruneRevocations(hash: string, until: string, nowMs: number): Promise<number>
}

export class RedisRevocations {
  private readonly redis: Redis & RevocationCommands
  private readonly hash: string
  private readonly until: string

  constructor(redis: Redis, prefix: string) {
    redis.defineCommand('pusherRevoke', { numberOfKeys: 2, lua: REVOKE })
    redis.defineCommand('pusherPruneRevocations', { numberOfKeys: 2, lua: PRUNE })
    this.redis = redis as Redis & RevocationCommands
    this.hash = `${prefix}revoked`
    this.until = `${prefix}revoked:until`
  }

  /** Records a cut for `uid`; answers the cut in force there (a later one may already be). */
  async record(uid: string, revocation: Revocation): Promise<Revocation> {
    const [cut, until] = await this.redis.pusherRevoke(this.hash, this.until, uid, revocation.cutMs, revocation.untilMs)
    return { cutMs: Number(cut), untilMs: Number(until) }
  }

  /** Every cut in force. */
  async load(): Promise<Array<[uid: string, revocation: Revocation]>> {
    const [cuts, pairs] = await Promise.all([this.redis.hgetall(this.hash), this.redis.zrange(this.until, '0', '-1', 'WITHSCORES')])
    const untilOf = new Map<string, number>()
    for (let i = 0; i < pairs.length; i += 2) untilOf.set(pairs[i]!, Number(pairs[i + 1]))
    const now = Date.now()
    const loaded: Array<[string, Revocation]> = []
    for (const [uid, cut] of Object.entries(cuts)) {
      const untilMs = untilOf.get(uid)
      if (untilMs !== undefined && untilMs > now) loaded.push([uid, { cutMs: Number(cut), untilMs }])
    }
    return loaded
  }

  /** Forgets the cuts that have run out; returns how many. */
  async prune(): Promise<number> {
    return this.redis.pusherPruneRevocations(this.hash, this.until, Date.now())
  }
}
