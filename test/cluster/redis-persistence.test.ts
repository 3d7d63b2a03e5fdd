// The persistence check of the Redis store, against redis-servers of the test's own (the
// shared Redis at REDIS_URL is never touched): without AOF and RDB a node in cluster mode
// warns once at start that queued (202) messages would not survive a Redis restart; with
// either it does not; a Redis that refuses CONFIG is asked INFO; nothing blocks or throws.
import assert from 'node:assert/strict'
import { type ChildProcess, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer, type Socket } from 'node:net'
import { test } from 'node:test'
import Fastify, { type FastifyInstance } from 'fastify'
import { Redis, type RedisOptions } from 'ioredis'
import pusher from '../../app.js'
import type { RedisBus } from '../../lib/bus/redis.js'
import { checkPersistence, reportPersistence } from '../../lib/redis/persistence.js'
import { startRedisServer, testPrefix } from '../support/cluster-helpers.js'
import { API_KEY, SECRET, tempDir } from '../support/helpers.js'
import { freePort } from '../support/processes.js'

const hasRedisServer = spawnSync('redis-server', ['--version']).status === 0
if (!hasRedisServer && process.env.CI) throw new Error('redis-server is required under CI=true (apt-get install redis-server)')
const skip = hasRedisServer ? false : 'redis-server is not installed'

/** The warning of a Redis without persistence, as the hub logs it. */
const NO_PERSISTENCE = /Redis has no persistence .*answered 202 \(queued\).*appendonly yes.*save points/

interface OwnRedis {
  url: string
  port: number
  stop(): Promise<void>
}

function own(server: ChildProcess, port: number): OwnRedis {
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    async stop() {
      if (server.exitCode !== null || server.signalCode !== null) return
      const exited = once(server, 'exit')
      server.kill('SIGKILL')
      await exited
    },
  }
}

/**
 * A throwaway redis-server with `args` on a free port, its files in a temporary directory.
 * (startRedisServer from cluster-helpers starts one with `--save '' --appendonly no` only:
 * the tests with that configuration use it.)
 */
async function redisServerWith(...args: string[]): Promise<OwnRedis> {
  const port = await freePort()
  return own(await startRedisServer(port, ['--dir', tempDir('redis-persistence'), ...args]), port)
}

async function redisServerWithoutPersistence(): Promise<OwnRedis> {
  const port = await freePort()
  return own(await startRedisServer(port), port)
}

/** A client like the bus' command connection: fail fast, 2 s per command. */
async function client(url: string, extra: RedisOptions = {}): Promise<Redis> {
  const redis = new Redis(url, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 2000, ...extra })
  redis.on('error', () => {})
  if (redis.status !== 'ready') await once(redis, 'ready')
  return redis
}

interface Line {
  level: 'info' | 'warn' | 'other'
  msg: string
}

/** Log lines as they come: a pino stream for a Fastify logger, or a LinkLog for the lib. */
class Lines {
  readonly all: Line[] = []
  private waiters: Array<() => void> = []

  readonly info = (msg: string) => this.add({ level: 'info', msg })
  readonly warn = (msg: string) => this.add({ level: 'warn', msg })

  /** pino writes one JSON line per call. */
  write(chunk: string): void {
    for (const text of chunk.split('\n')) {
      if (text === '') continue
      const { level, msg } = JSON.parse(text) as { level: number; msg: string }
      this.add({ level: level === 30 ? 'info' : level === 40 ? 'warn' : 'other', msg })
    }
  }

  /** Resolves with the first line (already logged or still to come) that `matches`. */
  async next(matches: (line: Line) => boolean): Promise<Line> {
    for (;;) {
      const found = this.all.find(matches)
      if (found !== undefined) return found
      await new Promise<void>((resolve) => this.waiters.push(resolve))
    }
  }

  count(matches: (line: Line) => boolean): number {
    return this.all.filter(matches).length
  }

  private add(line: Line): void {
    this.all.push(line)
    for (const wake of this.waiters.splice(0)) wake()
  }
}

const warning = (line: Line) => line.level === 'warn' && NO_PERSISTENCE.test(line.msg)
const aboutPersistence = (line: Line) => /Redis persistence|Redis has no persistence/.test(line.msg)

/** A node in cluster mode (the Redis store) against `url`, its log lines captured. */
async function startLoggedNode(url: string): Promise<{ app: FastifyInstance; logs: Lines }> {
  const logs = new Lines()
  const app = Fastify({ logger: { level: 'info', stream: logs } })
  await app.register(pusher, {
    jwt: { secret: SECRET }, apiKeys: [API_KEY], env: {}, redis: url, cluster: { prefix: testPrefix(), nodeId: 'checked', leaseTtlMs: 1000 },
  })
  await app.ready()
  return { app, logs }
}

test('--appendonly no --save "": not persistent, and a node warns exactly once, reconnects included', { skip, timeout: 30_000 }, async () => {
  const server = await redisServerWithoutPersistence()
  const redis = await client(server.url)
  let node: Awaited<ReturnType<typeof startLoggedNode>> | undefined
  try {
    const check = await checkPersistence(redis)
    assert.equal(check.state, 'not_persistent')
    assert.equal(check.detail, 'neither AOF nor RDB snapshots: appendonly is "no", save is ""')

    node = await startLoggedNode(server.url)
    const line = await node.logs.next(warning)
    assert.match(line.msg, /on a managed Redis, enable its persistence or backups/)
    // A reconnect of the command connection does not check (nor warn) again.
    const commands = (node.app.bus as RedisBus).redis
    const back = once(commands, 'ready')
    commands.disconnect(true)
    await back
    const { logs } = node
    await node.app.close()
    node = undefined
    assert.equal(logs.count(warning), 1)
    assert.equal(logs.count(aboutPersistence), 1, logs.all.filter(aboutPersistence).map((l) => l.msg).join('\n'))
  } finally {
    await node?.app.close()
    redis.disconnect()
    await server.stop()
  }
})

test('--appendonly yes: persistent, and a node logs it at info without a warning', { skip, timeout: 30_000 }, async () => {
  const server = await redisServerWith('--appendonly', 'yes', '--save', '')
  const redis = await client(server.url)
  try {
    assert.deepEqual(await checkPersistence(redis), { state: 'persistent', detail: 'AOF is on (appendonly yes)' })

    const { app, logs } = await startLoggedNode(server.url)
    await app.close()
    const lines = logs.all.filter(aboutPersistence)
    assert.deepEqual(lines, [{ level: 'info', msg: 'Redis persistence: AOF is on (appendonly yes)' }])
    assert.equal(logs.count((line) => line.level === 'warn' && /202/.test(line.msg)), 0)
  } finally {
    redis.disconnect()
    await server.stop()
  }
})

test('--save "60 1" --appendonly no: persistent through RDB snapshots, with what a crash may still lose', { skip, timeout: 30_000 }, async () => {
  const server = await redisServerWith('--save', '60 1', '--appendonly', 'no')
  const redis = await client(server.url)
  try {
    const check = await checkPersistence(redis)
    assert.equal(check.state, 'persistent')
    assert.match(check.detail, /^RDB snapshots are on \(save "60 1"\), AOF is off: what was queued since the last snapshot is lost if Redis crashes$/)
  } finally {
    redis.disconnect()
    await server.stop()
  }
})

test('CONFIG refused (renamed away): INFO tells AOF on, but AOF off is unknown, since INFO cannot show save points', { skip, timeout: 30_000 }, async () => {
  const renamed = ['--rename-command', 'CONFIG', '']
  const withAof = await redisServerWith(...renamed, '--appendonly', 'yes', '--save', '')
  const withoutAof = await redisServerWith(...renamed, '--appendonly', 'no', '--save', '')
  const aof = await client(withAof.url)
  const none = await client(withoutAof.url)
  try {
    const on = await checkPersistence(aof)
    assert.equal(on.state, 'persistent')
    assert.match(on.detail, /^AOF is on \(INFO persistence: aof_enabled:1; CONFIG is refused \(ERR unknown command 'config'/)

    // No save points here, but RDB snapshots could be on for all INFO shows: not a false alarm.
    const off = await checkPersistence(none)
    assert.equal(off.state, 'unknown')
    assert.match(off.detail, /^CONFIG is refused \(ERR unknown command 'config'.*\); INFO persistence says AOF is off \(aof_enabled:0\) but cannot show whether RDB save points are set \(rdb_saves:0 since Redis started\)$/)

    // A node says so at info, and does not warn.
    const { app, logs } = await startLoggedNode(withoutAof.url)
    await app.close()
    const lines = logs.all.filter(aboutPersistence)
    assert.equal(lines.length, 1)
    assert.equal(lines[0]!.level, 'info')
    assert.match(lines[0]!.msg, /^Redis persistence could not be verified \(CONFIG is refused .*will not survive a Redis restart\.$/)
    assert.equal(logs.count(warning), 0)
  } finally {
    aof.disconnect()
    none.disconnect()
    await Promise.all([withAof.stop(), withoutAof.stop()])
  }
})

test('CONFIG and INFO both refused: unknown, with both reasons', { skip, timeout: 30_000 }, async () => {
  const server = await redisServerWith('--rename-command', 'CONFIG', '', '--rename-command', 'INFO', '', '--save', '', '--appendonly', 'no')
  // ioredis' ready check is an INFO: off, or the client would never be ready.
  const redis = await client(server.url, { enableReadyCheck: false })
  try {
    const check = await checkPersistence(redis)
    assert.equal(check.state, 'unknown')
    assert.match(check.detail, /^CONFIG is refused \(ERR unknown command 'config'.*\), and so is INFO \(ERR unknown command 'info'/)
  } finally {
    redis.disconnect()
    await server.stop()
  }
})

test('Redis unreachable: unknown with the reason, at once', { timeout: 10_000 }, async () => {
  const port = await freePort()
  const redis = new Redis(`redis://127.0.0.1:${port}`, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 2000, lazyConnect: true })
  redis.on('error', () => {})
  try {
    const check = await checkPersistence(redis)
    assert.equal(check.state, 'unknown')
    assert.match(check.detail, /^Redis did not answer \(Stream isn't writeable/)
  } finally {
    redis.disconnect()
  }
})

test('Redis that never answers: unknown once the time is up', { timeout: 10_000 }, async () => {
  // Accepts the connection and says nothing, as a hung Redis would.
  const sockets: Socket[] = []
  const mute = createServer((socket) => void sockets.push(socket)).listen(0, '127.0.0.1')
  await once(mute, 'listening')
  const { port } = mute.address() as { port: number }
  const redis = new Redis(`redis://127.0.0.1:${port}`, { maxRetriesPerRequest: 0 })
  redis.on('error', () => {})
  try {
    assert.deepEqual(await checkPersistence(redis, 200), { state: 'unknown', detail: 'Redis did not answer within 200 ms' })
  } finally {
    redis.disconnect()
    for (const socket of sockets) socket.destroy()
    mute.close()
  }
})

test('Redis not up at start: the report does not wait for it, says so, and checks once Redis is up', { skip, timeout: 30_000 }, async () => {
  const port = await freePort()
  const redis = new Redis(`redis://127.0.0.1:${port}`, { enableOfflineQueue: false, maxRetriesPerRequest: 0, commandTimeout: 2000, retryStrategy: () => 20 })
  redis.on('error', () => {})
  const logs = new Lines()
  let server: OwnRedis | undefined
  try {
    const stop = await reportPersistence(redis, logs)
    assert.equal(logs.all.length, 1)
    assert.match(logs.all[0]!.msg, /^Redis persistence could not be verified yet \(the connection is (connecting|reconnecting|connect)\): it is checked when Redis is reachable$/)
    server = own(await startRedisServer(port), port)
    assert.match((await logs.next(warning)).msg, NO_PERSISTENCE)
    stop()
    assert.equal(logs.count(warning), 1)
  } finally {
    redis.disconnect()
    await server?.stop()
  }
})
