// `npm run bench:durable`: what a durable send (POST /send with a ttl, stored
// in SQLite before the answer) costs next to a plain one. fastify-pusher runs as in
// `npm run bench` (fastify-cli on dist/app.js, sender keys and metrics on), pinned to
// core 0, with a fresh SQLite file (PUSHER_DB) per run; bench/lib/durable-load.ts, on
// core 1, connects N users and measures M plain sends, M durable sends to those users
// (200), M durable sends to users on the framed protocol who acknowledge them (200), and
// M durable sends to users who are offline (202). Several runs, medians, and the
// durable ÷ plain ratio against the target of at most 2×.
//
//   npm run bench:durable -- [--repeats 3] [--connections 2000] [--messages 20000] [--quick] [--no-write]
import { type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { mkdtempSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import Database from 'better-sqlite3'
import { log, machine, pinned, resultsBlock, sh, waitForPort, writeSection } from './lib/harness.js'
import type { KindResult } from './lib/durable-load.js'
import { median } from './lib/stats.js'

const { values: args } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    connections: { type: 'string' },
    messages: { type: 'string' },
    ttl: { type: 'string', default: '60' },
    concurrency: { type: 'string', default: '32' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
})
const API_KEY = 'bench-api-key-0123456789'
const N = args.connections ?? (args.quick ? '500' : '2000')
const M = args.messages ?? (args.quick ? '3000' : '20000')
const WARMUP = String(Math.min(2000, Math.max(200, Math.floor(Number(M) / 10))))
/** A run that takes longer than this is killed: the whole command stays bounded. */
const RUN_TIMEOUT_MS = 120_000

type Kind = 'plain' | 'durable' | 'framed' | 'offline'
type Run = Record<Kind, KindResult> & { stored: Record<string, number>; dbBytes: number }

/** The load generator pinned to core 1; resolves with the figures it printed. */
async function runGenerator(generatorArgs: string[]): Promise<Record<Kind, KindResult>> {
  const generator = pinned(1, [process.execPath, '--expose-gc', '--import', 'tsx', 'bench/lib/durable-load.ts', ...generatorArgs], {}, 'pipe')
  let output = ''
  generator.stdout!.on('data', (chunk: Buffer) => { output += chunk })
  const timer = setTimeout(() => generator.kill('SIGKILL'), RUN_TIMEOUT_MS)
  const [code] = await once(generator, 'exit')
  clearTimeout(timer)
  if (code !== 0) throw new Error(`load generator exited with ${code}`)
  return JSON.parse(output) as Record<Kind, KindResult>
}

/** What the file holds once the server is gone: messages by status, so a run proves its sends were stored. */
function storedIn(path: string): Record<string, number> {
  const db = new Database(path)
  try {
    const rows = db.prepare('SELECT status, COUNT(*) AS n FROM messages GROUP BY status').all() as Array<{ status: string; n: number }>
    return Object.fromEntries(rows.map(({ status, n }) => [status, n]))
  } finally {
    db.close()
  }
}

async function runOnce(port: number, order: string): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), 'pusher-durable-'))
  const dbPath = join(dir, 'pusher.db')
  let server: ChildProcess | undefined
  try {
    server = pinned(0, [process.execPath, 'node_modules/fastify-cli/cli.js', 'start', '--options', '-l', 'warn', 'dist/app.js'],
      { JWT_SECRET: 'secret', PUSHER_API_KEY: API_KEY, PUSHER_DB: dbPath, PORT: String(port) }, 'inherit')
    await waitForPort(port, server)
    const figures = await runGenerator(['--url', `http://127.0.0.1:${port}`, '--pid', String(server.pid), '--api-key', API_KEY,
      '--connections', N, '--messages', M, '--warmup', WARMUP, '--ttl', args.ttl!, '--concurrency', args.concurrency!, '--order', order])
    server.kill('SIGKILL')
    await once(server, 'exit').catch(() => {})
    const dbBytes = statSync(dbPath).size + (statSync(`${dbPath}-wal`, { throwIfNoEntry: false })?.size ?? 0)
    return { ...figures, stored: storedIn(dbPath), dbBytes }
  } finally {
    if (server !== undefined && server.exitCode === null && server.signalCode === null) {
      server.kill('SIGKILL')
      await once(server, 'exit').catch(() => {})
    }
    rmSync(dir, { recursive: true, force: true })
  }
}

log('building fastify-pusher (npm run build)')
sh('npm run build')
const repeats = Number(args.repeats)
const runs: Run[] = []
for (let repeat = 0; repeat < repeats; repeat++) {
  // Alternate which kind goes first, so neither always meets the fresher heap; offline last.
  const order = repeat % 2 === 0 ? 'plain,durable,framed,offline' : 'framed,durable,plain,offline'
  const port = 9700 + repeat
  log(`run ${repeat + 1}/${repeats} on port ${port}: ${N} users, ${M} sends of each kind (${order})`)
  const run = await runOnce(port, order)
  const expectedStored = 3 * (Number(M) + Number(WARMUP))
  const stored = Object.values(run.stored).reduce((sum, n) => sum + n, 0)
  if (stored !== expectedStored) throw new Error(`the file holds ${stored} messages, not ${expectedStored}: ${JSON.stringify(run.stored)}`)
  log(`  CPU µs / message: plain ${run.plain.cpuUs.toFixed(1)}, durable ${run.durable.cpuUs.toFixed(1)}, framed ${run.framed.cpuUs.toFixed(1)}, offline ${run.offline.cpuUs.toFixed(1)}; stored ${JSON.stringify(run.stored)}`)
  runs.push(run)
}

// --- the table ----------------------------------------------------------------------
const med = (pick: (run: Run) => number | undefined) => median(runs.map((run) => pick(run) ?? Number.NaN))
const fmt = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '—')
const ratio = (a: number, b: number) => (Number.isFinite(a / b) ? `${(a / b).toFixed(2)}×` : '—')
const kinds: Kind[] = ['plain', 'durable', 'framed', 'offline']
interface Row { label: string; pick: (result: KindResult) => number | undefined; digits: number; target?: string }
const rows: Row[] = [
  { label: 'server CPU µs / message', pick: (r) => r.cpuUs, digits: 1, target: 'durable ≤ 2× plain' },
  { label: 'messages / s (informational)', pick: (r) => r.perSecond, digits: 0 },
  { label: 'send → receive latency p50 ms', pick: (r) => r.receiveLatencyMs?.p50, digits: 2 },
  { label: 'send → receive latency p99 ms', pick: (r) => r.receiveLatencyMs?.p99, digits: 2 },
  { label: 'send → receive latency max ms', pick: (r) => r.receiveLatencyMs?.max, digits: 2 },
  { label: 'send → answer latency p50 ms', pick: (r) => r.responseLatencyMs.p50, digits: 2 },
  { label: 'send → answer latency p99 ms', pick: (r) => r.responseLatencyMs.p99, digits: 2 },
]
const head = ['figure', 'plain unicast (200)', `durable, user connected (ttl=${args.ttl}, 200)`, 'durable, framed client that acks (200)',
  `durable, user offline (ttl=${args.ttl}, 202)`, 'connected ÷ plain', 'framed ÷ plain', 'offline ÷ plain', 'target']
const line = (cells: string[]) => `| ${cells.join(' | ')} |`
const table = [line(head), line(head.map(() => '---')), ...rows.map(({ label, pick, digits, target }) => {
  const [plain, durable, framed, offline] = kinds.map((kind) => med((run) => pick(run[kind])))
  return line([label, fmt(plain!, digits), fmt(durable!, digits), fmt(framed!, digits), fmt(offline!, digits),
    ratio(durable!, plain!), ratio(framed!, plain!), ratio(offline!, plain!), target ?? ''])
})].join('\n')

const cpuRatio = med((run) => run.durable.cpuUs) / med((run) => run.plain.cpuUs)
const perRun = runs.map((run) => (run.durable.cpuUs / run.plain.cpuUs).toFixed(2)).join(', ')
const framedRatio = med((run) => run.framed.cpuUs) / med((run) => run.plain.cpuUs)
const verdict = `Durable ÷ plain server CPU per message: ${cpuRatio.toFixed(2)}× on the medians (per run: ${perRun}); ` +
  `target ≤ 2×: ${cpuRatio <= 2 ? 'met' : 'NOT met'}. To a framed client that acknowledges (envelope, ack, store update): ${framedRatio.toFixed(2)}×.`
process.stdout.write(`${table}\n\n${verdict}\n`)

const command = ['npm run bench:durable', ...(process.argv.length > 2 ? ['--', ...process.argv.slice(2)] : [])].join(' ')
if (!args['no-write'] && !args.quick) {
  writeSection('durable', resultsBlock([
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}.`,
    `Command: \`${command}\` (${repeats} run${repeats === 1 ? '' : 's'}, medians; server on core 0 with a fresh SQLite file per run, generator on core 1; ` +
      `${N} users connected, ${M} measured sends of each kind after ${WARMUP} unmeasured ones, ${args.concurrency} requests in flight on keep-alive connections).`,
    '',
    verdict,
  ], table, runs))
}
