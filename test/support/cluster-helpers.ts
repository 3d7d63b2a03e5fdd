// Fixtures for cluster tests: nodes joined through a real Redis, each with its own key
// prefix per test so tests never see each other's presence.
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { after, before } from 'node:test'
import { Redis } from 'ioredis'
import type { PusherOptions } from '../../app.js'
import type { RedisBus } from '../../lib/bus/redis.js'
import { startHub, type TestHub } from './helpers.js'
import { waitForOutput } from './processes.js'

export const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'

/** Whether Redis answers; under CI=true an unreachable Redis is an error, not a skip. */
export async function redisReachable(url = REDIS_URL): Promise<boolean> {
  const client = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null, connectTimeout: 2000 })
  client.on('error', () => {})
  try {
    await client.connect()
    await client.ping()
    return true
  } catch {
    if (process.env.CI) throw new Error(`Redis at ${url} is required under CI=true (set REDIS_URL)`)
    return false
  } finally {
    client.disconnect()
  }
}

export function testPrefix(): string {
  return `pusher-test:${randomBytes(4).toString('hex')}:`
}

export interface ClusterNode extends TestHub {
  bus: RedisBus
}

/** A node of the cluster under `prefix`; `options` adds to (or overrides) the test defaults. */
export async function startNode(prefix: string, nodeId: string, redis = REDIS_URL, options: PusherOptions = {}): Promise<ClusterNode> {
  const hub = await startHub({ redis, cluster: { prefix, nodeId, leaseTtlMs: 1000 }, ...options })
  return { ...hub, bus: hub.app.bus as RedisBus }
}

/** Makes every node's view current: presence written, leases renewed, expired nodes reaped. */
export async function settle(...nodes: ClusterNode[]): Promise<void> {
  for (const node of nodes) {
    await node.bus.presenceSettled()
    await node.bus.topicsSettled()
  }
  // Twice: the first pass reports each node's counts, the second reads everyone's.
  for (let pass = 0; pass < 2; pass++) for (const node of nodes) await node.bus.renewLease()
}

/**
 * Two nodes joined through Redis for the tests of one describe block: started (and
 * settled) before them, closed after them with every key they wrote. Read `nodes.a`
 * and `nodes.b` inside the tests.
 */
export function twoNodes(names: [string, string], prefix = testPrefix()): { a: ClusterNode; b: ClusterNode } {
  const nodes = {} as { a: ClusterNode; b: ClusterNode }
  before(async () => {
    ;[nodes.a, nodes.b] = await Promise.all([startNode(prefix, names[0]), startNode(prefix, names[1])])
    await settle(nodes.a, nodes.b)
  })
  after(async () => {
    await Promise.all([nodes.a?.app.close(), nodes.b?.app.close()])
    await dropPrefix(prefix)
  })
  return nodes
}

/** Deletes every key a test wrote under its prefix. */
export async function dropPrefix(prefix: string, url = REDIS_URL): Promise<void> {
  const client = new Redis(url)
  const keys = await client.keys(`${prefix}*`)
  if (keys.length > 0) await client.del(...keys)
  client.disconnect()
}

/** A redis-server of the test's own on `port`, which the test may kill and restart. */
export async function startRedisServer(port: number, settings: string[] = ['--save', '', '--appendonly', 'no']): Promise<ChildProcess> {
  const server = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', ...settings], {
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  await waitForOutput(server, 'stdout', /Ready to accept connections/)
  return server
}
