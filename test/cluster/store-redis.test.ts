// The Redis engine passes the same contract as the SQLite one, against the real Redis
// at REDIS_URL, under a key prefix of its own.
import assert from 'node:assert/strict'
import { Redis } from 'ioredis'
import { describe, test } from 'node:test'
import { RedisStore } from '../../lib/store/redis.js'
import { dropPrefix, REDIS_URL, redisReachable, testPrefix } from '../support/cluster-helpers.js'
import { CONTRACT_OPTIONS, storeContract } from '../support/store-contract.js'

if (await redisReachable()) {
  const prefix = testPrefix()
  const redis = new Redis(REDIS_URL, { enableAutoPipelining: true })
  storeContract('Redis', async () => new RedisStore(redis, prefix, CONTRACT_OPTIONS), async () => {
    await dropPrefix(prefix)
    redis.disconnect()
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
