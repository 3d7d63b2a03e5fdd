// The cluster's MessageStore: messages kept in Redis, so that whichever node a user
// reconnects to can deliver their queue. Every state change is one Lua script, so a
// message is never seen half-written; concurrent appends share round trips through
// ioredis' auto-pipelining.
//
// Keys, under the prefix:
//   seq:<uid>     counter   the user's last seq (never reset, so seqs are never reused)
//   msg:<id>      hash      the message and its status timestamps
//   open:<uid>    zset      seq -> id of the user's open (queued or delivered) messages
//   expiry        zset      expiresAt -> id of open messages, for sweep()
//   delivered     zset      expiresAt -> id of open messages that are delivered, for countByStatus()
//   closed        zset      closedAt -> id of acked or expired messages, forgotten after keepClosedMs
//   counts        hash      status -> how many kept messages have it, as of the last sweep
//                           (the scripts keep it exact; countByStatus() adds what lapsed since)
//   unacked       zset      due time -> id, only with unackedAfterMs: claimUnacked() removes
//                           what is due and reports the messages still open (webhooks)
//   write-probe   string    the time of the last checkWritable(), expiring after a minute
//   topic-seq:<topic>, topic-history:<topic>   the topic history (redis-topics.ts)
import type { Redis } from 'ioredis'
import { MessageIds } from './ids.js'
import { assertUids } from '../auth/uid.js'
import { RedisTopicHistory } from './redis-topics.js'
import { DEFAULT_TOPIC_HISTORY_SIZE } from './topic-history.js'
import {
  asOf, type ExpiredMessage, type MessageNotice, type MessageStatus, type MessageStore, type NewMessage, newStoreStats,
  type StoredMessage, type StoreOptions,
} from './store.js'

const CLOSE = `
local function close(p, id, status, field, at, now)
  local uid, was = unpack(redis.call('HMGET', p .. 'msg:' .. id, 'uid', 'status'))
  redis.call('HSET', p .. 'msg:' .. id, 'status', status, field, at, 'closed', now)
  if was then redis.call('HINCRBY', p .. 'counts', was, -1) end
  redis.call('HINCRBY', p .. 'counts', status, 1)
  redis.call('ZREM', p .. 'open:' .. uid, id)
  redis.call('ZREM', p .. 'expiry', id)
  redis.call('ZREM', p .. 'delivered', id)
  redis.call('ZADD', p .. 'closed', now, id)
end
-- What the webhooks report of a message, appended to \`out\`: id, uid, seq, created, expires, delivered ('' if never).
local function notice(p, id, out)
  local uid, seq, created, expires, delivered = unpack(redis.call('HMGET', p .. 'msg:' .. id, 'uid', 'seq', 'created', 'expires', 'delivered'))
  for _, value in ipairs({ id, uid, seq, created, expires, delivered or '' }) do table.insert(out, value) end
end
`

const APPEND = `${CLOSE}
local p, id, uid, data, now, ttl, max, unacked = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local seq = redis.call('INCR', p .. 'seq:' .. uid)
if seq == 1 then
  -- See FIRST_SEQ in store.ts: a wiped store starts above every seq it gave before.
  seq = now * 1000 + 1
  redis.call('SET', p .. 'seq:' .. uid, seq)
end
redis.call('HSET', p .. 'msg:' .. id, 'uid', uid, 'seq', seq, 'data', data, 'created', now, 'expires', now + ttl, 'status', 'queued')
redis.call('HINCRBY', p .. 'counts', 'queued', 1)
redis.call('ZADD', p .. 'open:' .. uid, seq, id)
redis.call('ZADD', p .. 'expiry', now + ttl, id)
if unacked > 0 then redis.call('ZADD', p .. 'unacked', now + unacked, id) end
local over = redis.call('ZCARD', p .. 'open:' .. uid) - max
local out = { seq, 0 }
if over > 0 then
  for _, old in ipairs(redis.call('ZRANGE', p .. 'open:' .. uid, 0, over - 1)) do
    notice(p, old, out)
    close(p, old, 'expired', 'expired', now, now)
    out[2] = out[2] + 1
  end
end
return out`

const DELIVERED = `
local p, now, n = ARGV[1], ARGV[2], 0
for i = 3, #ARGV do
  local key = p .. 'msg:' .. ARGV[i]
  local status, expires = unpack(redis.call('HMGET', key, 'status', 'expires'))
  if status == 'queued' then
    redis.call('HSET', key, 'status', 'delivered', 'delivered', now)
    redis.call('ZADD', p .. 'delivered', expires, ARGV[i])
    n = n + 1
  end
end
if n > 0 then
  redis.call('HINCRBY', p .. 'counts', 'queued', -n)
  redis.call('HINCRBY', p .. 'counts', 'delivered', n)
end
return n`

const ACK = `${CLOSE}
local p, uid, seq, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local n = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'open:' .. uid, '-inf', seq)) do
  if tonumber(redis.call('HGET', p .. 'msg:' .. id, 'expires')) > now then
    close(p, id, 'acked', 'acked', now, now)
    n = n + 1
  end
end
return n`

const SWEEP = `${CLOSE}
local p, now, keep = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = { 0, 0 }
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'expiry', '-inf', now, 'LIMIT', 0, 1000)) do
  notice(p, id, out)
  close(p, id, 'expired', 'expired', redis.call('HGET', p .. 'msg:' .. id, 'expires'), now)
  out[1] = out[1] + 1
end
local forgotten = 0
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'closed', '-inf', now - keep, 'LIMIT', 0, 1000)) do
  local status = redis.call('HGET', p .. 'msg:' .. id, 'status')
  if status then redis.call('HINCRBY', p .. 'counts', status, -1) end
  redis.call('DEL', p .. 'msg:' .. id)
  redis.call('ZREM', p .. 'closed', id)
  forgotten = forgotten + 1
end
out[2] = forgotten
-- Due entries nobody claimed (unackedAfterMs was turned off since): as old as the oldest closed message kept.
redis.call('ZREMRANGEBYSCORE', p .. 'unacked', '-inf', now - keep)
return out`

// Takes the due entries of \`unacked\` (removed here, so each is claimed once, by one node)
// and reports the messages still open and unexpired.
const CLAIM_UNACKED = `${CLOSE}
local p, now, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local out = {}
for _, id in ipairs(redis.call('ZRANGEBYSCORE', p .. 'unacked', '-inf', now, 'LIMIT', 0, limit)) do
  redis.call('ZREM', p .. 'unacked', id)
  local status, expires = unpack(redis.call('HMGET', p .. 'msg:' .. id, 'status', 'expires'))
  if (status == 'queued' or status == 'delivered') and tonumber(expires) > now then notice(p, id, out) end
end
return out`

// The counters, plus the open messages past their TTL that no sweep has expired yet:
// those read as expired (asOf). Two range counts, O(log n): cheap at every scrape.
const COUNTS = `
local p, now = ARGV[1], ARGV[2]
local queued, delivered, acked, expired = unpack(redis.call('HMGET', p .. 'counts', 'queued', 'delivered', 'acked', 'expired'))
local lapsed = redis.call('ZCOUNT', p .. 'expiry', '-inf', now)
local lapsedDelivered = redis.call('ZCOUNT', p .. 'delivered', '-inf', now)
return { (tonumber(queued) or 0) - (lapsed - lapsedDelivered), (tonumber(delivered) or 0) - lapsedDelivered,
  tonumber(acked) or 0, (tonumber(expired) or 0) + lapsed }`

/** Six fields per message, as notice() in the scripts writes them. */
function toNotices(fields: string[], from: number): MessageNotice[] {
  const notices: MessageNotice[] = []
  for (let i = from; i + 5 < fields.length; i += 6) {
    const notice: MessageNotice = {
      id: fields[i]!, uid: fields[i + 1]!, seq: Number(fields[i + 2]), createdAt: Number(fields[i + 3]), expiresAt: Number(fields[i + 4]),
    }
    if (fields[i + 5] !== '') notice.deliveredAt = Number(fields[i + 5])
    notices.push(notice)
  }
  return notices
}

interface StoreCommands {
  pusherStoreAppend(...args: Array<string | number>): Promise<[number, number, ...string[]]>
  pusherStoreDelivered(...args: Array<string | number>): Promise<number>
  pusherStoreAck(...args: Array<string | number>): Promise<number>
  pusherStoreSweep(...args: Array<string | number>): Promise<[number, number, ...string[]]>
  pusherStoreClaimUnacked(...args: Array<string | number>): Promise<string[]>
  pusherStoreCounts(...args: Array<string | number>): Promise<[number, number, number, number]>
}

function toMessage(id: string, hash: Record<string, string>, now: number): StoredMessage | undefined {
  if (hash.uid === undefined) return undefined
  const message: StoredMessage = {
    id, uid: hash.uid, seq: Number(hash.seq), data: hash.data ?? '',
    createdAt: Number(hash.created), expiresAt: Number(hash.expires), status: hash.status as MessageStatus,
  }
  if (hash.delivered !== undefined) message.deliveredAt = Number(hash.delivered)
  if (hash.acked !== undefined) message.ackedAt = Number(hash.acked)
  if (hash.expired !== undefined) message.expiredAt = Number(hash.expired)
  return asOf(message, now)
}

export class RedisStore implements MessageStore {
  readonly stats = newStoreStats()
  onExpired: ((messages: ExpiredMessage[]) => void) | undefined
  readonly topics: RedisTopicHistory
  private readonly redis: Redis & StoreCommands
  private readonly ids = new MessageIds()

  constructor(redis: Redis, private readonly prefix: string, private readonly options: StoreOptions) {
    redis.defineCommand('pusherStoreAppend', { numberOfKeys: 0, lua: APPEND })
    redis.defineCommand('pusherStoreDelivered', { numberOfKeys: 0, lua: DELIVERED })
    redis.defineCommand('pusherStoreAck', { numberOfKeys: 0, lua: ACK })
    redis.defineCommand('pusherStoreSweep', { numberOfKeys: 0, lua: SWEEP })
    redis.defineCommand('pusherStoreCounts', { numberOfKeys: 0, lua: COUNTS })
    redis.defineCommand('pusherStoreClaimUnacked', { numberOfKeys: 0, lua: CLAIM_UNACKED })
    this.redis = redis as Redis & StoreCommands
    this.topics = new RedisTopicHistory(redis, prefix, { maxPerTopic: options.maxPerTopic ?? DEFAULT_TOPIC_HISTORY_SIZE })
  }

  async append(messages: NewMessage[], now = Date.now()): Promise<StoredMessage[]> {
    // Every uid first: an append is refused whole.
    assertUids(messages)
    // In order, one script each: auto-pipelining sends them together, Redis runs them in order.
    const stored = await Promise.all(messages.map(async ({ uid, data, ttlMs }) => {
      const id = this.ids.next()
      const reply = await this.redis.pusherStoreAppend(this.prefix, id, uid, data, now, ttlMs, this.options.maxPerUser, this.options.unackedAfterMs ?? 0)
      const [seq, dropped] = reply
      this.stats.stored++
      this.stats.dropped += dropped
      this.stats.expired += dropped
      if (dropped > 0) this.reportExpired(toNotices(reply as unknown as string[], 2).map((m) => ({ ...m, expiredAt: now, reason: 'queue_limit' })))
      return { id, uid, seq, data, createdAt: now, expiresAt: now + ttlMs, status: 'queued' as const }
    }))
    return stored
  }

  async markDelivered(ids: string[], now = Date.now()): Promise<void> {
    if (ids.length === 0) return
    this.stats.delivered += await this.redis.pusherStoreDelivered(this.prefix, now, ...ids)
  }

  async ack(uid: string, seq: number, now = Date.now()): Promise<number> {
    const acked = await this.redis.pusherStoreAck(this.prefix, uid, seq, now)
    this.stats.acked += acked
    return acked
  }

  async lastSeq(uid: string): Promise<number> {
    return Number(await this.redis.get(`${this.prefix}seq:${uid}`) ?? 0)
  }

  async open(uid: string, afterSeq: number, limit: number, now = Date.now()): Promise<StoredMessage[]> {
    const ids = await this.redis.zrangebyscore(`${this.prefix}open:${uid}`, `(${afterSeq}`, '+inf', 'LIMIT', 0, limit)
    const hashes = await Promise.all(ids.map((id) => this.redis.hgetall(`${this.prefix}msg:${id}`)))
    return hashes
      .map((hash, i) => toMessage(ids[i]!, hash, now))
      .filter((m): m is StoredMessage => m !== undefined && m.status !== 'expired')
  }

  async get(id: string, now = Date.now()): Promise<StoredMessage | undefined> {
    return toMessage(id, await this.redis.hgetall(`${this.prefix}msg:${id}`), now)
  }

  async sweep(now = Date.now()): Promise<{ expired: number; forgotten: number }> {
    const reply = await this.redis.pusherStoreSweep(this.prefix, now, this.options.keepClosedMs)
    const [expired, forgotten] = reply
    this.stats.expired += expired
    if (expired > 0) this.reportExpired(toNotices(reply as unknown as string[], 2).map((m) => ({ ...m, expiredAt: m.expiresAt, reason: 'ttl' })))
    // Not counted as expired: topic messages are not a user's, and this engine's removes none (see its sweep).
    await this.topics.sweep(now)
    return { expired, forgotten }
  }

  async claimUnacked(limit: number, now = Date.now()): Promise<MessageNotice[]> {
    return toNotices(await this.redis.pusherStoreClaimUnacked(this.prefix, now, limit), 0)
  }

  /** Hands expired messages to onExpired; a listener's error must not fail the call that expired them. */
  private reportExpired(messages: ExpiredMessage[]): void {
    try {
      this.onExpired?.(messages)
    } catch {
      // The listener's own problem: the store's state is already right.
    }
  }

  async countByStatus(now = Date.now()): Promise<Record<MessageStatus, number>> {
    const [queued, delivered, acked, expired] = await this.redis.pusherStoreCounts(this.prefix, now)
    // Never below zero, even under keys written before the counters existed.
    const atLeast0 = (n: number) => Math.max(0, n)
    return { queued: atLeast0(queued), delivered: atLeast0(delivered), acked: atLeast0(acked), expired: atLeast0(expired) }
  }

  /** A key of its own that expires by itself, so probes leave nothing behind. */
  async checkWritable(now = Date.now()): Promise<void> {
    await this.redis.set(`${this.prefix}write-probe`, now, 'PX', 60_000)
  }

  /** The Redis connection belongs to the bus; closing the store leaves it open. */
  async close(): Promise<void> {}
}
