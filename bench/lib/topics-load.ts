// The generator of `npm run bench:topics` (bench/topics.ts): one process, pinned to its
// own core, driving one hub through one phase and printing its figures as JSON.
//
//   fanout      S clients watch one topic: server CPU per delivery for K publishes to
//               it, and for K broadcasts to the same S connections, in alternating rounds
//   subscribe   C framed clients subscribe to 3 topics each with topic tokens, then
//               unsubscribe; then the backend subscribes each user to 3 topics over HTTP
//   memory      N clients, then each user subscribed to 3 topics: resident memory
//   history     (the hub has a message store) S framed clients subscribed to one topic:
//               server CPU per delivery of a publish with a ttl (kept in the topic's
//               history, written with its seq) beside one without; then S clients that
//               resume from seq 0: CPU per message written from the history
import { setTimeout as sleep } from 'node:timers/promises'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { Pool } from 'undici'
import WebSocket from 'ws'
import { Arrivals } from './arrivals.js'
import { type BenchClient, openClients, opened } from './clients.js'
import { preciseCpuMicros, settledRssKb } from './proc.js'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    pid: { type: 'string' },
    'api-key': { type: 'string', default: '' },
    secret: { type: 'string', default: 'secret' },
    phase: { type: 'string' },
    size: { type: 'string', default: '100' },
    publishes: { type: 'string', default: '1000' },
    rounds: { type: 'string', default: '3' },
  },
})
const base = args.url!
const pid = Number(args.pid)
const size = Number(args.size)
const sign = createSigner({ key: args.secret!, algorithm: 'HS256' })
const pool = new Pool(base, { connections: 16, pipelining: 1 })
const headers = { 'content-type': 'application/json', authorization: `Bearer ${args['api-key']}` }
const arrivals = new Arrivals()
const log = (message: string) => process.stderr.write(`[topics-load ${args.phase}] ${message}\n`)

async function post(path: string, body: unknown): Promise<void> {
  const response = await pool.request({ method: 'POST', path, headers, body: JSON.stringify(body) })
  await response.body.dump()
  if (response.statusCode !== 200) throw new Error(`${path} answered ${response.statusCode}`)
}

/** Runs `count` calls of `call`, `inFlight` at a time. */
async function inParallel(count: number, inFlight: number, call: (i: number) => Promise<void>): Promise<void> {
  let next = 0
  await Promise.all(Array.from({ length: Math.min(inFlight, count) }, async () => {
    while (next < count) await call(next++)
  }))
}

/** Server CPU, in µs, spent by `work`, measured after the server has settled. */
async function serverCpu(work: () => Promise<void>): Promise<number> {
  await sleep(300)
  const before = preciseCpuMicros(pid)
  await work()
  return preciseCpuMicros(pid) - before
}

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!

/**
 * Server CPU in ns per delivery of `calls` × `size` deliveries by each of two calls, over
 * the rounds, after warming both: alternating which goes first, so that neither is always
 * measured on a warmer process. Medians, and the median of the rounds' ratios (a ÷ b).
 */
async function compared(a: (i: number) => Promise<void>, b: (i: number) => Promise<void>, calls: number): Promise<{ a: number; b: number; ratio: number }> {
  for (const call of [a, b]) {
    const arrived = arrivals.expect(20 * size)
    await inParallel(20, 4, call)
    await arrived
  }
  const measure = async (call: (i: number) => Promise<void>) => {
    const arrived = arrivals.expect(calls * size)
    const cpu = await serverCpu(async () => {
      await inParallel(calls, 8, call)
      await arrived
    })
    return (cpu * 1000) / (calls * size)
  }
  const aNs: number[] = []
  const bNs: number[] = []
  for (let round = 0; round < Number(args.rounds); round++) {
    if (round % 2 === 0) {
      aNs.push(await measure(a))
      bNs.push(await measure(b))
    } else {
      bNs.push(await measure(b))
      aNs.push(await measure(a))
    }
  }
  return { a: median(aNs), b: median(bNs), ratio: median(aNs.map((x, i) => x / bNs[i]!)) }
}

async function fanout(): Promise<Record<string, number>> {
  const tokens = Array.from({ length: size }, (_, i) => sign({ uid: `u${i}`, topics: ['bench'] }))
  await openClients(base, 'ws', tokens, () => arrivals.count())
  const publish = (i: number) => post('/publish', { topic: 'bench', message: `p${i}` })
  const broadcast = (i: number) => post('/broadcast', { message: `b${i}` })
  const { a, b, ratio } = await compared(publish, broadcast, Number(args.publishes))
  return { publishNsPerDelivery: a, broadcastNsPerDelivery: b, ratio }
}

async function subscribe(): Promise<Record<string, number>> {
  const topics = (i: number) => [`t${i % 1000}`, `t${(i * 7 + 1) % 1000}`, 'all']
  let replies = 0
  let wake: (() => void) | undefined
  let wanted = 0
  const replied = (count: number) => {
    wanted += count
    return replies >= wanted ? Promise.resolve() : new Promise<void>((resolve) => (wake = resolve))
  }
  const sockets: WebSocket[] = []
  let next = 0
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < size) {
      const i = next++
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, ['pusher.framed.v1', `bearer.${sign({ uid: `u${i}` })}`], { perMessageDeflate: false })
      ws.on('message', () => {
        if (++replies === wanted && wake) wake()
      })
      await opened(ws)
      sockets[i] = ws
    }
  }))
  const topicTokens = sockets.map((_, i) => topics(i).map((topic) => sign({ uid: `u${i}`, topic })))
  const subscribed = replied(3 * size)
  const subscribeCpu = await serverCpu(async () => {
    sockets.forEach((ws, i) => topics(i).forEach((topic, t) => ws.send(JSON.stringify({ type: 'subscribe', topic, token: topicTokens[i]![t] }))))
    await subscribed
  })
  const unsubscribed = replied(3 * size)
  const unsubscribeCpu = await serverCpu(async () => {
    sockets.forEach((ws, i) => topics(i).forEach((topic) => ws.send(JSON.stringify({ type: 'unsubscribe', topic }))))
    await unsubscribed
  })
  const backendCpu = await serverCpu(() => inParallel(size, 8, (i) => post(`/users/u${i}/topics`, { subscribe: topics(i) })))
  for (const ws of sockets) ws.terminate()
  return {
    subscribeUs: subscribeCpu / (3 * size),
    unsubscribeUs: unsubscribeCpu / (3 * size),
    backendSubscribeUs: backendCpu / (3 * size),
  }
}

async function memory(): Promise<Record<string, number>> {
  const tokens = Array.from({ length: size }, (_, i) => sign({ uid: `u${i}` }))
  const empty = await settledRssKb(pid)
  // In five rounds, as loadgen.ts measures idle memory, so no round's garbage is
  // mistaken for what connections hold. What the heap keeps of the handshakes' and the
  // HTTP requests' garbage still counts: these are upper bounds.
  const clients: BenchClient[] = []
  for (let round = 0; round < 5; round++) clients.push(...await openClients(base, 'ws', tokens.slice((round * size) / 5, ((round + 1) * size) / 5), () => {}))
  const connected = await settledRssKb(pid)
  await inParallel(size, 8, (i) => post(`/users/u${i}/topics`, { subscribe: [`t${i % 1000}`, `t${(i * 7 + 1) % 1000}`, 'all'] }))
  const withTopics = await settledRssKb(pid)
  for (const client of clients) client.close()
  return {
    idleKbPerConnection: (connected - empty) / size,
    topicsKbPerConnection: (withTopics - connected) / size,
    totalKbPerConnection: (withTopics - empty) / size,
  }
}

/** Opens `count` framed clients of users `<prefix><i>`, every frame they get counted in `arrivals`. */
async function framedClients(count: number, prefix: string): Promise<WebSocket[]> {
  const sockets: WebSocket[] = []
  let next = 0
  await Promise.all(Array.from({ length: 64 }, async () => {
    while (next < count) {
      const i = next++
      const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws`, ['pusher.framed.v1', `bearer.${sign({ uid: `${prefix}${i}` })}`], { perMessageDeflate: false })
      ws.on('message', () => arrivals.count())
      await opened(ws)
      sockets[i] = ws
    }
  }))
  return sockets
}

/** Subscribes each client (of users `<prefix><i>`) to `topic`, from `since` if given; resolves once each is confirmed and got `replayedEach` messages. */
async function subscribeAll(sockets: WebSocket[], prefix: string, topic: string, since?: number, replayedEach = 0): Promise<void> {
  const confirmed = arrivals.expect(sockets.length * (1 + replayedEach))
  const tokens = sockets.map((_, i) => sign({ uid: `${prefix}${i}`, topic }))
  sockets.forEach((ws, i) => ws.send(JSON.stringify({ type: 'subscribe', topic, token: tokens[i], since })))
  await confirmed
}

async function history(): Promise<Record<string, number>> {
  const watching = await framedClients(size, 'w')
  await subscribeAll(watching, 'w', 'bench')
  const plain = (i: number) => post('/publish', { topic: 'bench', message: `p${i}` })
  const kept = (i: number) => post('/publish', { topic: 'bench', message: `k${i}`, ttl: 3600 })
  const { a: keptNs, b: plainNs, ratio: keptRatio } = await compared(kept, plain, Number(args.publishes))
  for (const ws of watching) ws.terminate()
  // The history holds its last PUSHER_TOPIC_HISTORY_SIZE messages (100 by default): each
  // resuming client gets all of them, then its answer.
  const kept100 = 100
  const resumed = await framedClients(size, 'r')
  // Their subscribes (topic tokens verified) without history, measured apart and taken off.
  const others = await framedClients(size, 'o')
  const subscribeCpu = await serverCpu(() => subscribeAll(others, 'o', 'not-kept'))
  const resumeCpu = (await serverCpu(() => subscribeAll(resumed, 'r', 'bench', 0, kept100))) - subscribeCpu
  for (const ws of others) ws.terminate()
  for (const ws of resumed) ws.terminate()
  return {
    keptNsPerDelivery: keptNs,
    plainNsPerDelivery: plainNs,
    keptRatio,
    replayNsPerMessage: (resumeCpu * 1000) / (size * kept100),
  }
}

const phases: Record<string, () => Promise<Record<string, number>>> = { fanout, subscribe, memory, history }
const run = phases[args.phase!]
if (run === undefined) throw new Error(`--phase must be one of ${Object.keys(phases).join(', ')}`)
log(`${size} clients`)
process.stdout.write(`${JSON.stringify(await run())}\n`)
await pool.close()
process.exit(0)
