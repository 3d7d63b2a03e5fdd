// The load generator of `npm run bench:durable` (bench/durable.ts runs it pinned to core
// 1): one process that connects N users, then, on the same connections and against the
// same server process, sends M plain unicasts, M durable unicasts to those connected
// users (ttl, answered 200), M durable unicasts to N other users connected with the
// framed protocol, who acknowledge as the client library does, and M durable sends to
// users who never connected (stored, answered 202). Prints one JSON object of figures.
// The server's CPU is read from /proc.
//
//   node --import tsx bench/lib/durable-load.ts --url http://127.0.0.1:9700 --pid 1234 --api-key KEY
//
// bench/loadgen.ts has no phase whose sends are answered 202, and running the three
// kinds in one process keeps the connections, the heap and the JIT the same for each.
// Kept lean like the loadgen: timestamps in the message handler, preallocated arrays,
// payloads parsed without decoding.
import { performance } from 'node:perf_hooks'
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { Pool } from 'undici'
import WebSocket from 'ws'
import { Arrivals } from './arrivals.js'
import { type BenchClient, openClients, opened } from './clients.js'
import { LatencyProbe } from './latency.js'
import { cpuMicros } from './proc.js'
import { type LatencySummary, summarize } from './stats.js'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    pid: { type: 'string' },
    'api-key': { type: 'string', default: '' },
    secret: { type: 'string', default: 'secret' },
    connections: { type: 'string', default: '2000' },
    messages: { type: 'string', default: '20000' },
    // Unmeasured sends of each kind first, so that both sides run optimized code.
    warmup: { type: 'string', default: '2000' },
    ttl: { type: 'string', default: '60' },
    // Requests in flight (one keep-alive connection each), the same for every kind.
    concurrency: { type: 'string', default: '32' },
    // Which kinds are measured, in this order (e.g. only `durable`, under a profiler).
    order: { type: 'string', default: 'plain,durable,framed,offline' },
    // No phase may take longer than this; a lost message fails the run instead of hanging it.
    'phase-timeout': { type: 'string', default: '90' },
  },
})
const base = args.url!
const pid = Number(args.pid)
const N = Number(args.connections)
const M = Number(args.messages)
const WARMUP = Number(args.warmup)
const CONCURRENCY = Number(args.concurrency)
const PHASE_TIMEOUT_MS = Number(args['phase-timeout']) * 1000
const PAYLOAD = 100
const log = (message: string) => process.stderr.write(`[durable-load] ${message}\n`)

const sign = createSigner({ key: args.secret!, algorithm: 'HS256' })
const pool = new Pool(base, { connections: CONCURRENCY, pipelining: 1 })
const headers = { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${args['api-key']}` }
const padding = 'x'.repeat(PAYLOAD)
const payload = (seq: number) => `${seq}-${padding}`.slice(0, PAYLOAD)
const ttlField = `&ttl=${args.ttl}`

// --- receiving ----------------------------------------------------------------------
const arrivals = new Arrivals()
const probe = new LatencyProbe()

function onMessage(data: Buffer | string): void {
  probe.arrived(data)
  arrivals.count()
}

const deliveries = (count: number): Promise<void> => arrivals.expect(count)

// --- sending ------------------------------------------------------------------------
interface Kind {
  name: 'plain' | 'durable' | 'framed' | 'offline'
  /** The form body of send number `seq`. */
  body(seq: number): string
  status: number
  /** Whether a connected client receives it. */
  delivered: boolean
}
const randomUser = () => Math.floor(Math.random() * N)
const kinds: Record<Kind['name'], Kind> = {
  plain: { name: 'plain', body: (seq) => `uid=u${randomUser()}&message=${payload(seq)}`, status: 200, delivered: true },
  durable: { name: 'durable', body: (seq) => `uid=u${randomUser()}&message=${payload(seq)}${ttlField}`, status: 200, delivered: true },
  framed: { name: 'framed', body: (seq) => `uid=f${randomUser()}&message=${payload(seq)}${ttlField}`, status: 200, delivered: true },
  // Users who never connect: every send is stored and waits (about M/N messages per user,
  // far below the per-user cap, so no send pays for expiring older ones).
  offline: { name: 'offline', body: (seq) => `uid=offline${randomUser()}&message=${payload(seq)}${ttlField}`, status: 202, delivered: false },
}

let responseLatency = new Float64Array(0)

/** Sends `count` messages of `kind`, CONCURRENCY in flight; resolves when all were answered (and received). */
async function send(kind: Kind, count: number): Promise<void> {
  probe.start(count)
  responseLatency = new Float64Array(count)
  const arrived = kind.delivered ? deliveries(count) : Promise.resolve()
  let next = 0
  const worker = async () => {
    while (next < count) {
      const seq = next++
      probe.sent(seq)
      const response = await pool.request({ method: 'POST', path: '/send', headers, body: kind.body(seq) })
      await response.body.dump()
      responseLatency[seq] = probe.elapsed(seq)
      if (response.statusCode !== kind.status) throw new Error(`${kind.name} send answered ${response.statusCode}, not ${kind.status}`)
    }
  }
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${kind.name}: not done after ${PHASE_TIMEOUT_MS / 1000} s (${arrivals.received}/${arrivals.expected} received)`)), PHASE_TIMEOUT_MS)
  })
  try {
    await Promise.race([(async () => { await Promise.all(Array.from({ length: CONCURRENCY }, worker)); await arrived })(), timeout])
  } finally {
    clearTimeout(timer)
  }
}

function collectOwnGarbage(): void {
  ;(globalThis as { gc?: () => void }).gc?.()
}

export interface KindResult {
  cpuUs: number
  perSecond: number
  receiveLatencyMs?: LatencySummary
  responseLatencyMs: LatencySummary
}

/**
 * One measured phase. Server CPU is counted from a settled start until 300 ms after the
 * last answer, so that work the server defers past its answers (garbage collection,
 * setImmediate tails) is charged to the phase that caused it, for every kind alike.
 */
async function measure(kind: Kind): Promise<KindResult> {
  collectOwnGarbage()
  await sleep(300)
  const cpu = cpuMicros(pid)
  const start = performance.now()
  await send(kind, M)
  const ms = performance.now() - start
  await sleep(300)
  const cpuUs = cpuMicros(pid) - cpu
  const receiveLatencyMs = probe.stop()
  return {
    cpuUs: cpuUs / M,
    perSecond: (M / ms) * 1000,
    ...(kind.delivered && { receiveLatencyMs }),
    responseLatencyMs: summarize(responseLatency, M),
  }
}

// As fastify-pusher/client does with its default ackDelayMs: one ack, for the highest
// seq, 50 ms after the first unacknowledged message.
const ACK_DELAY_MS = 50

/** A client of the framed protocol (pusher.framed.v1) that acknowledges what it receives. */
function openFramed(token: string): Promise<BenchClient> {
  const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, ['pusher.framed.v1', `bearer.${token}`], { perMessageDeflate: false })
  let highest = 0
  let timer: NodeJS.Timeout | undefined
  const ack = () => {
    timer = undefined
    ws.send(`{"type":"ack","seq":${highest}}`)
  }
  ws.on('message', (data: Buffer) => {
    const envelope = JSON.parse(data.toString()) as { seq: number; data: string }
    onMessage(envelope.data)
    if (envelope.seq > highest) highest = envelope.seq
    timer ??= setTimeout(ack, ACK_DELAY_MS)
  })
  return opened(ws)
}

const order = args.order!.split(',') as Array<Kind['name']>
for (const name of order) if (!(name in kinds)) throw new Error(`--order: unknown kind ${name}`)
log(`connecting ${N} users`)
const clients: BenchClient[] = await openClients(base, 'ws', Array.from({ length: N }, (_, i) => sign({ uid: `u${i}` })), onMessage)
if (order.includes('framed')) {
  log(`connecting ${N} framed users`)
  for (let i = 0; i < N; i++) clients.push(await openFramed(sign({ uid: `f${i}` })))
}
log(`warming up: ${WARMUP} sends of each kind`)
for (const name of order) await send(kinds[name], WARMUP)
const results: Record<string, KindResult> = {}
for (const name of order) {
  log(`measuring ${M} ${name} sends`)
  results[name] = await measure(kinds[name])
}
for (const client of clients) client.close()
await pool.close()
process.stdout.write(`${JSON.stringify(results)}\n`)
process.exit(0)
