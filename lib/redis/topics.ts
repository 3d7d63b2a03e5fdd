// Who watches which topic, across the cluster, kept in Redis next to presence: each node
// writes how many of its connections (and users) watch each topic, so that a publish can
// answer how many it reached, and GET /topics/:topic can count across nodes. Writes are
// absolute counts, so after a lost update or a Redis restart a node writes them again.
//
// Keys, under the configured prefix:
//   topic:<topic>        hash  node id -> "<subscribers> <users>" on that node
//   node:<id>:topics     set   topics that node has entries for (to clean up after it)
// Channel:
//   topic:<topic>        what is published to the topic; a node subscribes while it has
//                        subscribers (Redis keeps keys and channels apart)
import type { Redis } from 'ioredis'

// KEYS: topic:<topic>. ARGV: channel, payload. One round trip: the publish, and the
// counts it is answered with.
const PUBLISH = `
local receivers = redis.call('PUBLISH', ARGV[1], ARGV[2])
return { receivers, redis.call('HGETALL', KEYS[1]) }`

// KEYS: node:<id>:topics. ARGV: node, prefix. Removes a node's entries from every topic.
const REAP = `
local topics = redis.call('SMEMBERS', KEYS[1])
for _, topic in ipairs(topics) do
  redis.call('HDEL', ARGV[2] .. 'topic:' .. topic, ARGV[1])
end
redis.call('DEL', KEYS[1])
return #topics`

type TopicCommands = Redis & {
  pusherPublishTopic(key: string, channel: string, payload: Buffer): Promise<[number, string[]]>
  pusherReapTopics(key: string, node: string, prefix: string): Promise<number>
}

/** Subscribers and users of a topic on each node, as the nodes last wrote them. */
export type TopicHolders = Map<string, { subscribers: number; users: number }>

export class RedisTopics {
  private readonly redis: TopicCommands

  constructor(redis: Redis, private readonly prefix: string, private readonly nodeId: string) {
    if (!('pusherPublishTopic' in redis)) {
      redis.defineCommand('pusherPublishTopic', { numberOfKeys: 1, lua: PUBLISH })
      redis.defineCommand('pusherReapTopics', { numberOfKeys: 1, lua: REAP })
    }
    this.redis = redis as TopicCommands
  }

  /** The channel a topic's messages are published on. */
  channel(topic: string): string {
    return `${this.prefix}topic:${topic}`
  }

  /** Publishes; resolves with how many subscriber connections (nodes) received it, and the topic's holders. */
  async publish(topic: string, payload: Buffer): Promise<{ receivers: number; holders: TopicHolders }> {
    const [receivers, fields] = await this.redis.pusherPublishTopic(this.key(topic), this.channel(topic), payload)
    return { receivers, holders: parseHolders(fields) }
  }

  async holders(topic: string): Promise<TopicHolders> {
    return parseHolders(await this.redis.hgetall(this.key(topic)).then((hash) => Object.entries(hash).flat()))
  }

  /** Writes this node's counts for each topic; 0 subscribers removes its entry. One round trip. */
  async write(entries: Array<[topic: string, subscribers: number, users: number]>): Promise<void> {
    if (entries.length === 0) return
    const multi = this.redis.multi()
    const own = this.ownKey(this.nodeId)
    for (const [topic, subscribers, users] of entries) {
      if (subscribers > 0) multi.hset(this.key(topic), this.nodeId, `${subscribers} ${users}`).sadd(own, topic)
      else multi.hdel(this.key(topic), this.nodeId).srem(own, topic)
    }
    await multi.exec()
  }

  /** Removes every entry of `node` (one whose lease ran out, or this node before it writes them all again). */
  reap(node: string): Promise<number> {
    return this.redis.pusherReapTopics(this.ownKey(node), node, this.prefix)
  }

  private key(topic: string): string {
    return `${this.prefix}topic:${topic}`
  }

  private ownKey(node: string): string {
    return `${this.prefix}node:${node}:topics`
  }
}

function parseHolders(fields: string[]): TopicHolders {
  const holders: TopicHolders = new Map()
  for (let i = 0; i + 1 < fields.length; i += 2) {
    const [subscribers, users] = fields[i + 1]!.split(' ').map(Number)
    holders.set(fields[i]!, { subscribers: subscribers ?? 0, users: users ?? 0 })
  }
  return holders
}
