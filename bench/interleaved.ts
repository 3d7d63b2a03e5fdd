// Interleaved measurement: one generator drives several servers that run side by side
// (all pinned to one core, each idle while another is measured), in short slices taken
// in turn, so that every server is measured under the same machine conditions within
// seconds of the others. bench/run.ts runs it after the main runs: this VM drifts
// between fast and slow periods lasting seconds to minutes, which moves whole runs
// measured one after the other by up to 2x, while a ratio taken within one round holds.
//
//   node --import tsx bench/interleaved.ts --target floor=http://127.0.0.1:9200=1234 --target ... [--api-key K] [--batch pusher ...]
//
// A round measures each figure in turn, and each figure in sub-slices that go round the
// servers several times (--passes), so that the slices a ratio compares lie a fraction
// of a second apart and a slow spell falls on every server alike. Unicast: sends to
// random connected users. Handshakes: new connections with tokens never seen. The
// servers named by --batch also take POST /send/batch calls (100 messages each), each
// sub-slice right after its own unicast one: the batch target is a ratio to the floor's
// unicast. Last, each server in turn takes --paced-slice sends at a fixed rate (2,000/s),
// timed send to receive. Prints {"unicast": {"<name>": [µs per message, one per round]},
// "handshake": {...}, "batch": {...}, "pacedP50": {"<name>": [ms, one per round]}, "pacedP99": {...}}.
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { Pool } from 'undici'
import { Arrivals } from './lib/arrivals.js'
import { type BenchClient, openClients } from './lib/clients.js'
import { rotated } from './lib/harness.js'
import { LatencyProbe, numberedPayload } from './lib/latency.js'
import { preciseCpuMicros } from './lib/proc.js'
import type { Interleaved, InterleavedFigure } from './lib/report.js'

const { values: args } = parseArgs({
  options: {
    // name=url=pid, once per server.
    target: { type: 'string', multiple: true },
    'api-key': { type: 'string', default: '' },
    secret: { type: 'string', default: 'secret' },
    // As many as the main runs' loadgen holds, so that both spread sends over as many users.
    connections: { type: 'string', default: '2000' },
    // Per server and round: unicast messages (twice as many batch messages) and
    // handshakes, split over --passes sub-slices of some hundredths of a second of the
    // server's CPU each, read at nanosecond resolution (preciseCpuMicros).
    slice: { type: 'string', default: '10000' },
    'handshake-slice': { type: 'string', default: '2000' },
    passes: { type: 'string', default: '5' },
    // Per server and round: messages sent at a fixed rate, timed send to receive.
    'paced-rate': { type: 'string', default: '2000' },
    'paced-slice': { type: 'string', default: '2500' },
    rounds: { type: 'string', default: '20' },
    // Servers that also take batch slices (they need POST /send/batch).
    batch: { type: 'string', multiple: true, default: [] },
  },
})
const connections = Number(args.connections)
const slice = Number(args.slice)
const handshakeSlice = Number(args['handshake-slice'])
const rounds = Number(args.rounds)
const passes = Number(args.passes)
const pacedRate = Number(args['paced-rate'])
const pacedSlice = Number(args['paced-slice'])
const log = (message: string) => process.stderr.write(`[interleaved] ${message}\n`)

interface Target {
  name: string
  url: string
  pid: number
  pool: Pool
  clients: BenchClient[]
}

const arrivals = new Arrivals()
const probe = new LatencyProbe()
const onMessage = (data: Buffer | string) => {
  probe.arrived(data)
  arrivals.count()
}
const deliveries = (count: number): Promise<void> => arrivals.expect(count)

const sign = createSigner({ key: args.secret!, algorithm: 'HS256' })
const tokens = Array.from({ length: connections }, (_, i) => sign({ uid: `u${i}` }))
const headers = { 'content-type': 'application/x-www-form-urlencoded', authorization: `Bearer ${args['api-key']}` }
const message = 'x'.repeat(100)

const targets: Target[] = []
for (const spec of args.target ?? []) {
  const [name, url, pid] = spec.split('=') as [string, string, string]
  targets.push({ name, url, pid: Number(pid), pool: new Pool(url, { connections: 32, pipelining: 1 }), clients: await openClients(url, 'ws', tokens, onMessage) })
  log(`${name}: ${connections} connections open`)
}

/** Sends `count` unicast messages to random users of `target`, 32 in flight; resolves once all arrived. */
async function unicast(target: Target, count: number): Promise<void> {
  const arrived = deliveries(count)
  let next = 0
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next++ < count) {
      const uid = Math.floor(Math.random() * connections)
      const response = await target.pool.request({ method: 'POST', path: '/send', headers, body: `uid=u${uid}&message=${message}` })
      await response.body.dump()
      if (response.statusCode !== 200) throw new Error(`${target.name}: /send answered ${response.statusCode}`)
    }
  }))
  await arrived
}

const jsonHeaders = { ...headers, 'content-type': 'application/json' }
/** Sends `count` messages to random users of `target` as batches of 100, 8 calls in flight; resolves once all arrived. */
async function batches(target: Target, count: number): Promise<void> {
  const arrived = deliveries(count)
  let next = 0
  await Promise.all(Array.from({ length: 8 }, async () => {
    while ((next += 100) <= count) {
      const messages = Array.from({ length: 100 }, () => ({ uid: `u${Math.floor(Math.random() * connections)}`, message }))
      const response = await target.pool.request({ method: 'POST', path: '/send/batch', headers: jsonHeaders, body: JSON.stringify({ messages }) })
      await response.body.dump()
      if (response.statusCode !== 200) throw new Error(`${target.name}: /send/batch answered ${response.statusCode}`)
    }
  }))
  await arrived
}

/**
 * Sends `count` messages to random users of `target` at --paced-rate, well under what
 * saturates any of the servers, timed send to receive: p50 and p99 in ms.
 */
async function paced(target: Target, count: number): Promise<{ p50: number; p99: number }> {
  ;(globalThis as { gc?: () => void }).gc?.()
  await sleep(100)
  await probe.paced(pacedRate, count, arrivals, (seq) => {
    const body = `uid=u${Math.floor(Math.random() * connections)}&message=${numberedPayload(seq, message.length)}`
    target.pool.request({ method: 'POST', path: '/send', headers, body }).then((response) => response.body.dump(), (error) => log(String(error)))
  })
  return probe.stop()
}

let handshakeRound = 0
/**
 * A handshake slice: each call opens `count` connections to a target with the same
 * tokens, which no server has seen before, and gives back what closes them.
 */
function handshakes(count: number): (target: Target) => Promise<() => void> {
  // Signed before the measurement starts: the generator's signing is not the server's CPU.
  const fresh = Array.from({ length: count }, (_, i) => sign({ uid: `h${handshakeRound}-${i}` }))
  handshakeRound++
  return async (target) => {
    const opened = await openClients(target.url, 'ws', fresh, onMessage)
    return () => { for (const client of opened) client.close() }
  }
}

/** What `target` spent on `work`, after it has settled; `work` may return a clean-up, run after the reading. */
async function cpuOf(target: Target, work: (target: Target) => Promise<unknown>): Promise<number> {
  // Long enough for the server to finish what the last slice left it (closing the
  // handshake slice's connections), short enough to keep the slices close together.
  await sleep(100)
  const before = preciseCpuMicros(target.pid)
  const cleanUp = await work(target)
  const spent = preciseCpuMicros(target.pid) - before
  if (typeof cleanUp === 'function') cleanUp()
  return spent
}

// Two unmeasured slices each first: cold code on either side is not measured.
for (const target of targets) {
  await unicast(target, 2 * slice)
  if (args.batch!.includes(target.name)) await batches(target, 2 * slice)
  ;(await handshakes(handshakeSlice)(target))()
}

/** Visits every server --passes times, in the round's order. */
async function eachPass(round: number, visit: (target: Target, pass: number) => Promise<void>): Promise<void> {
  for (let pass = 0; pass < passes; pass++) {
    for (const target of rotated(targets, round)) await visit(target, pass)
  }
}

/** CPU microseconds per server, summed over a round's sub-slices. */
class Tally extends Map<Target, number> {
  add(target: Target, micros: number): void {
    this.set(target, (this.get(target) ?? 0) + micros)
  }
}

const figures: Interleaved = { unicast: {}, handshake: {}, batch: {}, pacedP50: {}, pacedP99: {} }
const record = (figure: InterleavedFigure, tally: Tally, units: number) => {
  for (const [target, micros] of tally) (figures[figure]![target.name] ??= []).push(micros / units)
}
const unicastPass = Math.round(slice / passes)
const batchPass = 100 * Math.round((2 * slice) / passes / 100)
const handshakePass = Math.round(handshakeSlice / passes)
for (let round = 0; round < rounds; round++) {
  // The batch sub-slices go between the servers' unicast sub-slices: the batch figure is
  // a ratio to the floor's unicast, so the two are taken as close together as the rest.
  const unicastCpu = new Tally()
  const batchCpu = new Tally()
  await eachPass(round, async (target) => {
    unicastCpu.add(target, await cpuOf(target, (t) => unicast(t, unicastPass)))
    if (args.batch!.includes(target.name)) batchCpu.add(target, await cpuOf(target, (t) => batches(t, batchPass)))
  })
  // Each pass signs tokens of its own, which no server has seen.
  const handshakeCpu = new Tally()
  const handshakeSlices = Array.from({ length: passes }, () => handshakes(handshakePass))
  await eachPass(round, async (target, pass) => handshakeCpu.add(target, await cpuOf(target, handshakeSlices[pass]!)))
  record('unicast', unicastCpu, passes * unicastPass)
  record('batch', batchCpu, passes * batchPass)
  record('handshake', handshakeCpu, passes * handshakePass)
  // Latency last, in one slice per server: percentiles want every sample of a round.
  for (const target of rotated(targets, round)) {
    const { p50, p99 } = await paced(target, pacedSlice)
    ;(figures.pacedP50![target.name] ??= []).push(p50)
    ;(figures.pacedP99![target.name] ??= []).push(p99)
  }
  log(`round ${round + 1}/${rounds}`)
}
for (const target of targets) {
  for (const client of target.clients) client.close()
  await target.pool.close()
}
process.stdout.write(`${JSON.stringify(figures)}\n`)
process.exit(0)
