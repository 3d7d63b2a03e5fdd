// The Redis engine passes the same contract as the SQLite one, against the real Redis
// at REDIS_URL, under a key prefix of its own.
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { describe, test } from 'node:test'
import { RedisTopics } from '../../lib/redis/topics.js'
import { RedisStore } from '../../lib/store/redis.js'
import { dropPrefix, REDIS_URL, redisReachable, testPrefix } from '../support/cluster-helpers.js'
import { CONTRACT_OPTIONS, storeContract } from '../support/store-contract.js'
import { TOPIC_CONTRACT_OPTIONS, topicHistoryContract } from '../support/topic-history-contract.js'

if (await redisReachable()) {
  const prefix = testPrefix()
  const redis = new Redis(REDIS_URL, { enableAutoPipelining: true })
  storeContract('Redis', async () => new RedisStore(redis, prefix, CONTRACT_OPTIONS), async () => {
    await dropPrefix(prefix)
    redis.disconnect()
  })
  const topicPrefix = testPrefix()
  const topicRedis = new Redis(REDIS_URL, { enableAutoPipelining: true })
  topicHistoryContract('Redis', { sweepRemoves: false }, async () => new RedisStore(topicRedis, topicPrefix, TOPIC_CONTRACT_OPTIONS), async () => {
    await dropPrefix(topicPrefix)
    topicRedis.disconnect()
  })

  test('a topic\'s history keys live until its latest message expires, its seq 30 days more; only ever extended', async () => {
    const own = testPrefix()
    const link = new Redis(REDIS_URL, { enableAutoPipelining: true })
    const store = new RedisStore(link, own, TOPIC_CONTRACT_OPTIONS)
    const DAYS_30 = 2_592_000_000
    const t = 1_800_000_000_000
    try {
      // The cluster's subscriber counts live at topic:<topic> under the same prefix: the history must not meet them.
      await new RedisTopics(link, own, 'node-1').write([['news', 1, 1]])
      await store.topics.append([{ topic: 'news', data: 'one', ttlMs: 60_000 }], t)
      assert.deepEqual((await link.keys(`${own}*`)).sort(), [`${own}node:node-1:topics`, `${own}topic-first:news`, `${own}topic-history:news`, `${own}topic-seq:news`, `${own}topic:news`])
      const lifetimes = async () => [await link.pttl(`${own}topic-history:news`), await link.pttl(`${own}topic-seq:news`)] as const
      let [history, seq] = await lifetimes()
      // The topic's first seq lives as long as its counter.
      assert.ok(Math.abs((await link.pttl(`${own}topic-first:news`)) - seq) < 1000)
      assert.ok(history > 50_000 && history <= 60_000, `history expires in ${history} ms`)
      assert.ok(seq > DAYS_30 + 50_000 && seq <= DAYS_30 + 60_000, `seq expires in ${seq} ms`)
      // A shorter ttl leaves them; a longer one extends them.
      await store.topics.append([{ topic: 'news', data: 'short', ttlMs: 1000 }], t)
      ;[history, seq] = await lifetimes()
      assert.ok(history > 50_000, `history still expires in ${history} ms`)
      assert.ok(seq > DAYS_30 + 50_000, `seq still expires in ${seq} ms`)
      await store.topics.append([{ topic: 'news', data: 'long', ttlMs: 3_600_000 }], t)
      ;[history, seq] = await lifetimes()
      assert.ok(history > 3_500_000, `history now expires in ${history} ms`)
      assert.ok(seq > DAYS_30 + 3_500_000, `seq now expires in ${seq} ms`)
    } finally {
      link.disconnect()
      await dropPrefix(own)
    }
  })

  test('each append takes up to 8 expired messages off its topic\'s front: a quiet topic keeps what is live', async () => {
    const own = testPrefix()
    const link = new Redis(REDIS_URL, { enableAutoPipelining: true })
    const store = new RedisStore(link, own, { ...TOPIC_CONTRACT_OPTIONS, maxPerTopic: 100 })
    const t = 1_800_000_000_000
    try {
      await store.topics.append(Array.from({ length: 20 }, (_, i) => ({ topic: 'quiet', data: `short${i + 1}`, ttlMs: 1000 })), t)
      const kept = () => link.zcard(`${own}topic-history:quiet`)
      assert.equal(await kept(), 20)
      const later = t + 2000
      const sizes = []
      for (let i = 1; i <= 3; i++) {
        await store.topics.append([{ topic: 'quiet', data: `live${i}`, ttlMs: 60_000 }], later)
        sizes.push(await kept())
      }
      // 20 expired: 8 go with the first append (12 + 1 live), 8 with the second (4 + 2), the last 4 with the third (0 + 3).
      assert.deepEqual(sizes, [13, 6, 3])
      assert.equal(store.topics.stats.trimmed, 0, 'expired messages are not counted as trimmed')
      assert.deepEqual((await store.topics.after('quiet', 0, 10, later)).messages.map((m) => m.data), ['live1', 'live2', 'live3'])
    } finally {
      link.disconnect()
      await dropPrefix(own)
    }
  })

  test('two nodes appending to one topic at once get unique, contiguous seqs', async () => {
    const own = testPrefix()
    const links = [new Redis(REDIS_URL, { enableAutoPipelining: true }), new Redis(REDIS_URL, { enableAutoPipelining: true })]
    const [a, b] = links.map((link) => new RedisStore(link, own, { ...CONTRACT_OPTIONS, maxPerTopic: 100 }))
    const t = 1_800_000_000_000
    try {
      const batch = (node: string) => Array.from({ length: 20 }, (_, i) => ({ topic: 'shared', data: `${node}${i}`, ttlMs: 60_000 }))
      const [fromA, fromB] = await Promise.all([a!.topics.append(batch('a'), t), b!.topics.append(batch('b'), t)])
      // Each node's own appends keep their order.
      for (const own of [fromA!, fromB!]) assert.deepEqual(own.map((m) => m.seq), [...own.map((m) => m.seq)].sort((x, y) => x - y))
      const seqs = [...fromA!, ...fromB!].map((m) => m.seq).sort((x, y) => x - y)
      assert.deepEqual(seqs, seqs.map((_, i) => t * 1000 + 1 + i))
      const { messages, lastSeq } = await a!.topics.after('shared', 0, 100, t)
      assert.deepEqual(messages.map((m) => m.seq), seqs)
      assert.equal(lastSeq, seqs.at(-1))
    } finally {
      for (const link of links) link.disconnect()
      await dropPrefix(own)
    }
  })

  test('checkWritable writes one expiring key under the prefix, and rejects once the connection is gone', async () => {
    const own = testPrefix()
    // Configured as the bus configures the connection it shares: no offline queue, so a
    // command fails at once while Redis is away instead of waiting for it.
    const link = new Redis(REDIS_URL, { enableOfflineQueue: false, maxRetriesPerRequest: 0 })
    await new Promise((resolve) => link.once('ready', resolve))
    const store = new RedisStore(link, own, CONTRACT_OPTIONS)
    try {
      await store.checkWritable()
      const keys = await link.keys(`${own}*`)
      assert.deepEqual(keys, [`${own}write-probe`])
      const ttl = await link.pttl(keys[0]!)
      assert.ok(ttl > 0 && ttl <= 60_000, `expires in ${ttl} ms`)
    } finally {
      link.disconnect()
      await dropPrefix(own)
    }
    await assert.rejects(store.checkWritable())
  })
} else {
  describe('MessageStore contract: Redis', { skip: 'Redis is not reachable at REDIS_URL' }, () => {})
}
