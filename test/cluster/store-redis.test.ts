// The Redis engine passes the same contract as the SQLite one, against the real Redis
// at REDIS_URL, under a key prefix of its own.
import { Redis } from 'ioredis'
import { describe } from 'node:test'
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
} else {
  describe('MessageStore contract: Redis', { skip: 'Redis is not reachable at REDIS_URL' }, () => {})
}
