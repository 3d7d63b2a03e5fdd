// The Redis engine tells the webhooks what expired unacknowledged and what is still
// unacknowledged after a while: the shared contract, against the real Redis at
// REDIS_URL, two connections (two nodes) on one key prefix per test.
import { Redis } from 'ioredis'
import { describe } from 'node:test'
import { RedisStore } from '../../lib/store/redis.js'
import { dropPrefix, REDIS_URL, redisReachable, testPrefix } from '../support/cluster-helpers.js'
import { storeEventsContract } from '../support/store-events-contract.js'

if (await redisReachable()) {
  const prefixes: string[] = []
  const connections = [new Redis(REDIS_URL, { enableAutoPipelining: true }), new Redis(REDIS_URL, { enableAutoPipelining: true })]
  storeEventsContract('Redis', async (options) => {
    const prefix = testPrefix()
    prefixes.push(prefix)
    return [new RedisStore(connections[0]!, prefix, options), new RedisStore(connections[1]!, prefix, options)]
  }, async () => {
    for (const prefix of prefixes) await dropPrefix(prefix)
    for (const connection of connections) connection.disconnect()
  })
} else {
  describe('MessageStore events: Redis', { skip: 'Redis is not reachable at REDIS_URL' }, () => {})
}
