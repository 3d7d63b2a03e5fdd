// `npm run bench:topics`: what topics cost on one node. A fresh hub per measurement,
// pinned to core 0, the generator (bench/lib/topics-load.ts) on core 1:
//
// - a publish to a topic with 1, 100 and 10,000 subscribers, beside a broadcast to the
//   same connections (the target: at most 1.05x the broadcast's CPU per delivery);
// - subscribing and unsubscribing, by a framed client with a topic token and by the
//   backend over HTTP;
// - resident memory per connection, idle and with three topics each;
// - with a message store: a publish with a ttl beside one without, and what a
//   subscriber that resumes from the topic's history costs per message.
//
// - with --scale instead (bench/topics-scale.ts): 99,000 connections over 5 hubs and one
//   Redis, one publish to a topic all of them watch, then spread over 1,000 topics.
//
//   npm run bench:topics -- [--repeats 3] [--quick] [--no-write]
//   npm run bench:topics -- --scale [--per-node 19800] [--no-write]
import { type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { parseArgs } from 'node:util'
import { log, machine, pinned, resultsBlock, runGenerator, sh, waitForPort, writeSection } from './lib/harness.js'
import { medianOf, type RunResult } from './lib/report.js'
import { formatScale, runScale } from './topics-scale.js'

const { values: args } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
    scale: { type: 'boolean', default: false },
    'per-node': { type: 'string', default: '19800' },
  },
})
const API_KEY = 'bench-api-key-0123456789'
const SECRET = 'a-bench-secret-that-is-long-enough-for-hs256'
const quick = args.quick

interface Measurement {
  name: string
  phase: 'fanout' | 'subscribe' | 'memory' | 'history'
  size: number
  publishes?: number
}

const measurements: Measurement[] = [
  { name: '1 subscriber', phase: 'fanout', size: 1, publishes: quick ? 2000 : 10_000 },
  { name: '100 subscribers', phase: 'fanout', size: 100, publishes: quick ? 200 : 1000 },
  { name: '10,000 subscribers', phase: 'fanout', size: quick ? 2000 : 10_000, publishes: quick ? 10 : 40 },
  { name: 'subscribe and unsubscribe', phase: 'subscribe', size: quick ? 500 : 2000 },
  { name: 'memory', phase: 'memory', size: quick ? 2000 : 10_000 },
  { name: 'history', phase: 'history', size: 100, publishes: quick ? 200 : 1000 },
]

async function runOnce(measurement: Measurement, port: number): Promise<RunResult> {
  // The history phase needs a message store: a SQLite file of its own, removed after.
  const db = measurement.phase === 'history' ? join(mkdtempSync(join(tmpdir(), 'pusher-bench-')), 'history.db') : undefined
  const server: ChildProcess = pinned(0, [process.execPath, 'node_modules/fastify-cli/cli.js', 'start', '--options', '-l', 'warn', 'dist/app.js'],
    { JWT_SECRET: SECRET, PUSHER_API_KEY: API_KEY, PORT: String(port), ...(db === undefined ? {} : { PUSHER_DB: db }) }, 'inherit')
  try {
    await waitForPort(port, server)
    return await runGenerator<RunResult>('bench/lib/topics-load.ts', ['--url', `http://127.0.0.1:${port}`, '--pid', String(server.pid),
      '--api-key', API_KEY, '--secret', SECRET, '--phase', measurement.phase, '--size', String(measurement.size),
      ...(measurement.publishes === undefined ? [] : ['--publishes', String(measurement.publishes)])])
  } finally {
    server.kill('SIGKILL')
    await once(server, 'exit').catch(() => {})
    if (db !== undefined) rmSync(dirname(db), { recursive: true, force: true })
  }
}

log('building fastify-pusher (npm run build)')
sh('npm run build')
if (args.scale) {
  // 19,800 a node: the most under the 20,000-descriptor limit, with the hub's own spare.
  const results = [await runScale('one', Number(args['per-node'])), await runScale('spread', Number(args['per-node']))]
  const text = formatScale(results)
  process.stdout.write(`${text}\n`)
  if (!args['no-write']) writeSection('topics-scale', `${text}\n\nCommand: \`npm run bench:topics -- ${process.argv.slice(2).join(' ')}\`.\n\n\`\`\`json\n${JSON.stringify(results)}\n\`\`\``)
  process.exit(0)
}
const repeats = Number(args.repeats)
const runs: RunResult[][] = measurements.map(() => [])
for (let repeat = 0; repeat < repeats; repeat++) {
  for (const [index, measurement] of measurements.entries()) {
    log(`run ${repeat + 1}/${repeats}: ${measurement.name}`)
    runs[index]!.push(await runOnce(measurement, 9600 + repeat * 10 + index))
  }
}

const fmt = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '—')
const line = (cells: string[]) => `| ${cells.join(' | ')} |`
const table = (head: string[], rows: string[][]) => [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
const fanouts = measurements.flatMap((m, i) => (m.phase === 'fanout' ? [[m.name, fmt(medianOf(runs[i]!, 'publishNsPerDelivery'), 0),
  fmt(medianOf(runs[i]!, 'broadcastNsPerDelivery'), 0), `${fmt(medianOf(runs[i]!, 'ratio'), 3)}×`]] : []))
const sub = runs[measurements.findIndex((m) => m.phase === 'subscribe')]!
const mem = runs[measurements.findIndex((m) => m.phase === 'memory')]!
const hist = runs[measurements.findIndex((m) => m.phase === 'history')]!
const text = [
  table(['subscribers', 'publish: server CPU ns / delivery', 'broadcast to the same connections', 'publish ÷ broadcast (target ≤ 1.05×)'], fanouts),
  '',
  table(['operation', 'server CPU µs each'], [
    ['subscribe, framed client with a topic token (JWT verified)', fmt(medianOf(sub, 'subscribeUs'), 1)],
    ['unsubscribe, framed client', fmt(medianOf(sub, 'unsubscribeUs'), 1)],
    ['subscribe by the backend (`POST /users/:uid/topics`, 3 topics a request), per subscription', fmt(medianOf(sub, 'backendSubscribeUs'), 1)],
  ]),
  '',
  table(['resident memory', 'KB per connection'], [
    ['idle connection, no topic', fmt(medianOf(mem, 'idleKbPerConnection'), 2)],
    ['three topics each, added', fmt(medianOf(mem, 'topicsKbPerConnection'), 2)],
    ['connection with three topics', fmt(medianOf(mem, 'totalKbPerConnection'), 2)],
  ]),
  '',
  table(['topic history (SQLite store, 100 framed subscribers)', 'server CPU ns / delivery'], [
    ['publish without ttl', fmt(medianOf(hist, 'plainNsPerDelivery'), 0)],
    ['publish with ttl: kept in the history, written with its seq', `${fmt(medianOf(hist, 'keptNsPerDelivery'), 0)} (${fmt(medianOf(hist, 'keptRatio'), 2)}×)`],
    ['a message written from the history to a resuming subscriber (100 each)', fmt(medianOf(hist, 'replayNsPerMessage'), 0)],
  ]),
].join('\n')
process.stdout.write(`${text}\n`)
if (!args['no-write'] && !quick) {
  writeSection('topics', resultsBlock([
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}.`,
    `Command: \`${['npm run bench:topics', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ')}\` (${repeats} runs each, medians; the hub on core 0, the generator on core 1).`,
  ], text, Object.fromEntries(measurements.map((m, i) => [m.name, runs[i]]))))
}
