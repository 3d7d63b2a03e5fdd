// The load generator: one process, pinned to its own core by bench/run.ts, driving any
// go-pusher-protocol server (or the socket.io hub) through the benchmark phases and
// printing one JSON object of figures. The server's CPU and memory are read from /proc.
//
//   node --import tsx bench/loadgen.ts --url http://127.0.0.1:8182 --pid 1234 [--protocol ws|socketio]
//
// Kept lean on purpose: timestamps are taken in the message handler, latencies go to
// preallocated arrays, payloads are parsed without decoding, so the generator's own
// pauses stay small next to what it measures.
import { monitorEventLoopDelay, performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { Redis } from 'ioredis'
import { Pool } from 'undici'
import { Arrivals } from './lib/arrivals.js'
import { type BenchClient, openClients, type Protocol } from './lib/clients.js'
import { LatencyProbe, numberedPayload } from './lib/latency.js'
import { cpuMicros, rssKb, settledRssKb, stolenMs } from './lib/proc.js'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    // Where clients connect, when not where sends go (cluster runs: sends to one node, clients on another).
    'ws-url': { type: 'string' },
    // Server process ids, comma-separated: CPU is summed over them (every node of a cluster run).
    pid: { type: 'string' },
    // With a cluster, the Redis to count commands on, per phase.
    'redis-url': { type: 'string' },
    protocol: { type: 'string', default: 'ws' },
    'api-key': { type: 'string', default: '' },
    secret: { type: 'string', default: 'secret' },
    batch: { type: 'boolean', default: false },
    connections: { type: 'string', default: '2000' },
    unicast: { type: 'string', default: '20000' },
    'paced-rate': { type: 'string', default: '2000' },
    'paced-seconds': { type: 'string', default: '5' },
    broadcasts: { type: 'string', default: '50' },
    'batch-calls': { type: 'string', default: '200' },
    idle: { type: 'string', default: '5000' },
    scale: { type: 'string', default: '20000' },
    // Which phases to run (handshakes always runs: the others need its connections).
    phases: { type: 'string', default: 'unicast,paced,fanout,batch,idle,scale' },
  },
})
const base = args.url!
const wsBase = args['ws-url'] ?? base
const pids = args.pid!.split(',').map(Number)
const pid = pids[0]!
const protocol = args.protocol as Protocol
const N = Number(args.connections)
const M = Number(args.unicast)
const PAYLOAD = 100
const log = (message: string) => process.stderr.write(`[loadgen ${protocol} ${base}] ${message}\n`)

const sign = createSigner({ key: args.secret!, algorithm: 'HS256' })
const tokens = (from: number, count: number) => Array.from({ length: count }, (_, i) => sign({ uid: `u${from + i}` }))
const pool = new Pool(base, { connections: 32, pipelining: 1 })
const FORM = 'application/x-www-form-urlencoded'
const headers = { 'content-type': FORM, authorization: `Bearer ${args['api-key']}` }
const jsonHeaders = { 'content-type': 'application/json', authorization: `Bearer ${args['api-key']}` }
const payload = (seq: number) => numberedPayload(seq, PAYLOAD)

// --- receiving: one handler for every client, switched by phase -------------------
const arrivals = new Arrivals()
const probe = new LatencyProbe()

function onMessage(data: Buffer | string): void {
  probe.arrived(data)
  arrivals.count()
}

const deliveries = (count: number): Promise<void> => arrivals.expect(count)

async function post(path: string, body: string, json = false): Promise<void> {
  const response = await pool.request({ method: 'POST', path, headers: json ? jsonHeaders : headers, body })
  await response.body.dump()
  if (response.statusCode !== 200) throw new Error(`${path} answered ${response.statusCode}`)
}

// Commands the servers send to Redis, seen through MONITOR: a script counts once (its
// own calls are reported with the source "lua" and left out), as one command and one
// round trip of the sender. (INFO commandstats would count a script's calls as well.)
const redis = args['redis-url'] === undefined ? undefined : new Redis(args['redis-url'])
let monitored = 0
let marker: { text: string; seen: () => void } | undefined
if (redis !== undefined) {
  const monitor = await redis.monitor()
  monitor.on('monitor', (_time: string, argv: string[], source: string) => {
    if (source === 'lua') return
    if (marker !== undefined && argv[1] === marker.text) return marker.seen()
    monitored++
  })
}
let lastRedisCommands = 0
/** Asks Redis the ECHO the count waits for (its own connection counted once, at start). */
const echoer = redis === undefined ? undefined : new Redis(args['redis-url']!)

/** Commands the servers have sent Redis so far. */
async function redisCommands(): Promise<number> {
  if (redis === undefined) return 0
  // MONITOR reports each command as it runs: once it reports an ECHO sent now, it has
  // reported every command that ran before it.
  const text = `loadgen-${process.pid}-${performance.now()}`
  const seen = new Promise<void>((resolve) => (marker = { text, seen: resolve }))
  await echoer!.echo(text)
  await seen
  return monitored
}

/** Server CPU (all server processes) spent while `work` runs, after the servers have settled. */
async function serverCpu(work: () => Promise<void>): Promise<{ cpuUs: number; ms: number }> {
  collectOwnGarbage()
  await sleep(300)
  const cpuOf = () => pids.reduce((sum, p) => sum + cpuMicros(p), 0)
  const commands = await redisCommands()
  const cpu = cpuOf()
  const start = performance.now()
  await work()
  const cpuUs = cpuOf() - cpu
  lastRedisCommands = (await redisCommands()) - commands
  return { cpuUs, ms: performance.now() - start }
}

const clients: BenchClient[] = []
const randomUser = () => Math.floor(Math.random() * N)

// --- phases -------------------------------------------------------------------------
async function handshakes() {
  const batch = tokens(0, N)
  const { cpuUs } = await serverCpu(async () => { clients.push(...await openClients(wsBase, protocol, batch, onMessage)) })
  return { handshakeCpuUs: cpuUs / N }
}

async function unicast() {
  probe.start(M)
  let next = 0
  const worker = async () => {
    while (next < M) {
      const seq = next++
      probe.sent(seq)
      await post('/send', `uid=u${randomUser()}&message=${payload(seq)}`)
    }
  }
  const { cpuUs, ms } = await serverCpu(async () => {
    const arrived = deliveries(M)
    await Promise.all(Array.from({ length: 32 }, worker))
    await arrived
  })
  return {
    unicastCpuUs: cpuUs / M,
    unicastPerSecond: (M / ms) * 1000,
    unicastLatencyMs: probe.stop(),
    ...(redis && { unicastRedisCommands: lastRedisCommands / M }),
  }
}

/** Sends `total` timed messages at `rate` per second without waiting for answers; resolves when all arrived. */
const pacedSends = (rate: number, total: number): Promise<void> =>
  probe.paced(rate, total, arrivals, (seq) => {
    post('/send', `uid=u${randomUser()}&message=${payload(seq)}`).catch((error) => log(String(error)))
  })

/** Collects the generator's own garbage now, so that it does not pause mid-phase (needs --expose-gc). */
function collectOwnGarbage(): void {
  ;(globalThis as { gc?: () => void }).gc?.()
}

async function paced() {
  const rate = Number(args['paced-rate'])
  const total = rate * Number(args['paced-seconds'])
  // A second at the same rate first, not measured: both sides' code is optimized by
  // then, as it is in a server that has been up for a while.
  await pacedSends(rate, rate)
  collectOwnGarbage()
  await sleep(300)
  const loop = monitorEventLoopDelay({ resolution: 1 })
  const steal = stolenMs()
  loop.enable()
  await pacedSends(rate, total)
  loop.disable()
  return {
    pacedLatencyMs: probe.stop(),
    // What the latency owes to others: the generator's own event-loop delay, and the
    // time the hypervisor ran something else on this machine's cores (steal).
    generatorDelayMs: { p50: loop.percentile(50) / 1e6, p99: loop.percentile(99) / 1e6, max: loop.max / 1e6 },
    pacedStealMs: stolenMs() - steal,
  }
}

async function fanout() {
  const B = Number(args.broadcasts)
  const C = clients.length
  const sequential = await serverCpu(async () => {
    for (let b = 0; b < B; b++) {
      const arrived = deliveries(C)
      await post('/broadcast', `message=${payload(b)}`)
      await arrived
    }
  })
  const fanoutRedisCommands = lastRedisCommands / B
  const burst = await serverCpu(async () => {
    const arrived = deliveries(B * C)
    await Promise.all(Array.from({ length: B }, (_, b) => post('/broadcast', `message=${payload(b)}`)))
    await arrived
  })
  return {
    fanoutCpuNs: (sequential.cpuUs * 1000) / (B * C),
    burstFanoutCpuNs: (burst.cpuUs * 1000) / (B * C),
    ...(redis && { fanoutRedisCommandsPerBroadcast: fanoutRedisCommands }),
  }
}

async function batch() {
  const calls = Number(args['batch-calls'])
  const bodies = Array.from({ length: calls }, (_, call) => JSON.stringify({
    messages: Array.from({ length: 100 }, (_, i) => ({ uid: `u${randomUser()}`, message: payload(call * 100 + i) })),
  }))
  let next = 0
  const { cpuUs } = await serverCpu(async () => {
    const arrived = deliveries(calls * 100)
    await Promise.all(Array.from({ length: 8 }, async () => {
      while (next < calls) await post('/send/batch', bodies[next++]!, true)
    }))
    await arrived
  })
  return { batchCpuUs: cpuUs / (calls * 100) }
}

/** The server's RSS once it has stopped moving (GC done with the last burst's garbage). */
async function idleMemory() {
  const K = Number(args.idle)
  const before = await settledRssKb(pid)
  // In five rounds, so no round's garbage is mistaken for what connections hold.
  for (let round = 0; round < 5; round++) {
    clients.push(...await openClients(wsBase, protocol, tokens(clients.length, K / 5), onMessage))
    await sleep(500)
  }
  return { idleKbPerConnection: ((await settledRssKb(pid)) - before) / K }
}

async function scale() {
  const target = Number(args.scale)
  const missing = Math.max(0, target - clients.length)
  clients.push(...await openClients(wsBase, protocol, tokens(clients.length, missing), onMessage))
  const held = clients.length
  const start = performance.now()
  const arrived = deliveries(held)
  await post('/broadcast', `message=${payload(0)}`)
  await arrived
  return { scaleHeld: held, scaleBroadcastMs: performance.now() - start, scaleRssMb: rssKb(pid) / 1024 }
}

const wanted = new Set(['handshakes', ...args.phases!.split(',')])
if (!args.batch) wanted.delete('batch')
const results: Record<string, unknown> = {}
for (const [name, phase] of [
  // Paced latency before the saturating phases: their garbage, on both sides, would
  // otherwise be collected in the middle of it and measured as latency.
  ['handshakes', handshakes], ['paced', paced], ['unicast', unicast], ['fanout', fanout],
  ['batch', batch], ['idle', idleMemory], ['scale', scale],
] as const) {
  if (!wanted.has(name)) continue
  log(name)
  Object.assign(results, await phase())
}
for (const client of clients) client.close()
await pool.close()
redis?.disconnect()
echoer?.disconnect()
process.stdout.write(`${JSON.stringify(results)}\n`)
process.exit(0)
