// The Redis engine's topic history, on the RedisStore's connection and key prefix. One
// Lua script per message appended, so a seq and its message are written together;
// concurrent appends share round trips through ioredis' auto-pipelining, and Redis runs
// them in the order they were called.
//
// Keys, under the prefix:
//   topic-seq:<topic>      counter  the topic's last seq; lives 30 days past the latest
//                                   message's expiry, so a client still holding a seq is
//                                   not handed the same seq again for another message
//   topic-first:<topic>    string   the topic's first seq (no seq below it existed), as
//                                   long as the counter
//   topic-history:<topic>  zset     seq -> "seq:id:created:expires:data" (data last: it
//                                   may hold colons; ids are base64url, the rest digits);
//                                   lives until its latest message expires; each append
//                                   drops expired members from its front
// Not topic:<topic>: lib/redis/topics.ts keeps each topic's subscriber counts there,
// under the same prefix.
import type { Redis } from 'ioredis'
import { MessageIds } from './ids.js'
import { assertTopics, MAX_TOPIC_LENGTH } from '../topics/name.js'
import { type NewTopicMessage, SEQ_KEPT_AFTER_MS, type TopicHistory, type TopicHistoryOptions, type TopicHistoryPage, type TopicHistoryStats, type TopicMessage } from './topic-history.js'


/** Expired messages an append removes from the front of its topic's history, at most. */
const EXPIRED_PER_APPEND = 8

// The expiry field of a member, in Lua: the fourth, before the data.
const EXPIRES_OF = `
local function expires(member) return tonumber(string.match(member, '^[^:]*:[^:]*:[^:]*:([^:]*):')) end
`

// ARGV: prefix, topic, id, data, now, expiresAt, maxPerTopic. Replies { seq, trimmed }.
const APPEND = `${EXPIRES_OF}
local p, topic, id, data, now, expiresAt, max = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5]), ARGV[6], tonumber(ARGV[7])
local seqKey, firstKey, key = p .. 'topic-seq:' .. topic, p .. 'topic-first:' .. topic, p .. 'topic-history:' .. topic
local seq = redis.call('INCR', seqKey)
if seq == 1 then
  -- See firstSeq in store.ts: a wiped store starts above every seq it gave before.
  seq = now * 1000 + 1
  redis.call('SET', seqKey, seq)
  redis.call('SET', firstKey, string.format('%d', seq))
end
-- %d, not ..: Lua writes a number this large as 1.8e+15 when concatenated.
redis.call('ZADD', key, seq, string.format('%d', seq) .. ':' .. id .. ':' .. ARGV[5] .. ':' .. expiresAt .. ':' .. data)
-- Expired messages at the front leave first, up to ${EXPIRED_PER_APPEND} an append: a topic
-- then keeps about what is live, and a resuming read does not walk past the dead. (One
-- expired behind a longer-lived one waits for the trim or the key's expiry.)
for _ = 1, ${EXPIRED_PER_APPEND} do
  local front = redis.call('ZRANGE', key, 0, 0)[1]
  if front == nil or expires(front) > now then break end
  redis.call('ZPOPMIN', key)
end
local trimmed = 0
local over = redis.call('ZCARD', key) - max
if over > 0 then
  -- Only those still within their time to live count as trimmed (the stats' meaning).
  for _, member in ipairs(redis.call('ZRANGE', key, 0, over - 1)) do
    if expires(member) > now then trimmed = trimmed + 1 end
  end
  redis.call('ZREMRANGEBYRANK', key, 0, over - 1)
end
-- Lifetimes are only ever extended: a message with a shorter ttl must not cut short
-- those stored before it. PTTL is -1 for a key just made, without one.
local keep = math.max(1, math.ceil(tonumber(expiresAt) - now))
if redis.call('PTTL', key) < keep then redis.call('PEXPIRE', key, keep) end
if redis.call('PTTL', seqKey) < keep + ${SEQ_KEPT_AFTER_MS} then
  redis.call('PEXPIRE', seqKey, keep + ${SEQ_KEPT_AFTER_MS})
  redis.call('PEXPIRE', firstKey, keep + ${SEQ_KEPT_AFTER_MS})
end
return { seq, trimmed }`

// ARGV: prefix, topic, afterSeq, limit, now. Replies { lastSeq, firstSeq, member... }: up to
// \`limit\` unexpired members after afterSeq, and the last seq, read at one moment.
// Members past their expiry are skipped here, so a page holds \`limit\` live messages
// whenever the topic has that many, wherever the expired ones sit.
const AFTER = `${EXPIRES_OF}
local p, topic, afterSeq, limit, now = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4]), tonumber(ARGV[5])
local key = p .. 'topic-history:' .. topic
local out = { redis.call('GET', p .. 'topic-seq:' .. topic) or '0', redis.call('GET', p .. 'topic-first:' .. topic) or '0' }
local offset = 0
while #out <= limit + 1 do
  local chunk = redis.call('ZRANGEBYSCORE', key, '(' .. afterSeq, '+inf', 'LIMIT', offset, limit)
  for _, member in ipairs(chunk) do
    if expires(member) > now and #out <= limit + 1 then table.insert(out, member) end
  end
  if #chunk < limit then break end
  offset = offset + limit
end
return out`

interface TopicCommands {
  pusherTopicAppend(...args: Array<string | number>): Promise<[number, number]>
  pusherTopicAfter(...args: Array<string | number>): Promise<string[]>
}

/** A member as APPEND wrote it: the first four fields split at colons, the data whatever is left. */
function parseMember(topic: string, member: string): TopicMessage {
  const fields: string[] = []
  let at = 0
  for (let i = 0; i < 4; i++) {
    const colon = member.indexOf(':', at)
    fields.push(member.slice(at, colon))
    at = colon + 1
  }
  const [seq, id, createdAt, expiresAt] = fields as [string, string, string, string]
  return { id, topic, seq: Number(seq), data: member.slice(at), createdAt: Number(createdAt), expiresAt: Number(expiresAt) }
}

export class RedisTopicHistory implements TopicHistory {
  readonly stats: TopicHistoryStats = { stored: 0, trimmed: 0 }
  private readonly redis: Redis & TopicCommands
  private readonly ids = new MessageIds()

  constructor(redis: Redis, private readonly prefix: string, private readonly options: TopicHistoryOptions) {
    redis.defineCommand('pusherTopicAppend', { numberOfKeys: 0, lua: APPEND })
    redis.defineCommand('pusherTopicAfter', { numberOfKeys: 0, lua: AFTER })
    this.redis = redis as Redis & TopicCommands
  }

  async append(messages: NewTopicMessage[], now = Date.now()): Promise<TopicMessage[]> {
    // Every name first: an append is refused whole.
    assertTopics(messages.map((m) => m.topic), MAX_TOPIC_LENGTH)
    // In order, one script each: auto-pipelining sends them together, Redis runs them in order.
    return Promise.all(messages.map(async ({ topic, data, ttlMs }) => {
      const id = this.ids.next()
      const expiresAt = now + ttlMs
      const [seq, trimmed] = await this.redis.pusherTopicAppend(this.prefix, topic, id, data, now, expiresAt, this.options.maxPerTopic)
      this.stats.stored++
      this.stats.trimmed += trimmed
      return { id, topic, seq, data, createdAt: now, expiresAt }
    }))
  }

  async after(topic: string, afterSeq: number, limit: number, now = Date.now()): Promise<TopicHistoryPage> {
    const [lastSeq, firstSeq, ...members] = await this.redis.pusherTopicAfter(this.prefix, topic, afterSeq, limit, now)
    return { messages: members.map((member) => parseMember(topic, member)), lastSeq: Number(lastSeq), firstSeq: Number(firstSeq) }
  }

  /**
   * Nothing to do, so 0 without a round trip: each append removes its topic's expired
   * messages from the front and trims it to maxPerTopic, a reader skips expired members,
   * and a topic no one publishes to expires with its latest message.
   */
  async sweep(_now?: number): Promise<number> {
    return 0
  }
}
