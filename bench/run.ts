// `npm run bench`: fastify-pusher, the bare `ws` floor and socket.io under the same load,
// each server pinned to core 0 and the load generator to core 1, several runs each,
// medians in one table (stdout and bench/RESULTS.md).
//
//   npm run bench -- [--repeats 3] [--servers pusher,floor,socketio] [--interleaved-rounds 20] [--cold-rounds 5] [--quick] [--no-write]
//   npm run bench -- --repeats 0     the interleaved part and the fresh servers alone (about nine minutes)
//
// Then the interleaved part (bench/interleaved.ts): the floor, fastify-pusher and our two
// reference servers (bench/reference/: the floor as a plain Fastify app, and
// fastify-pusher's /send work without a framework) run side by side and take unicast,
// handshake, batch and paced load in interleaved slices; then fresh servers take the
// handshake phase one after the other. Ratios taken within one round hold on this VM
// where whole runs drift; the references show where unicast's cost goes.
import { parseArgs } from 'node:util'
import { log, machine, resultsBlock, rotated, runLoadgen, sh, writeSection } from './lib/harness.js'
import { prepare, runSideBySide, servers, startServer, stopServer } from './lib/servers.js'
import { formatInterleaved, formatTable, type Interleaved, type RunResult } from './lib/report.js'

const { values: args } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    servers: { type: 'string', default: 'floor,socketio,pusher' },
    // 20 by default, 3 with --quick.
    'interleaved-rounds': { type: 'string' },
    // 5 by default, 1 with --quick.
    'cold-rounds': { type: 'string' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
})
// A process may hold only as many sockets as its file limit allows; raise the soft
// limit to the hard one, and hold 20,000 connections only if that leaves room.
const hardLimit = Number(sh('ulimit -Hn'))
// Room for the servers' own descriptors and the generator's sender sockets: near its
// descriptor limit fastify-pusher keeps 64 spare and sheds idle sockets to stay reachable
// (lib/limits/connection-guard.ts), which a scale phase 100 short of the limit ran into.
const scaleTarget = args.quick ? 3000 : Math.min(20_000, hardLimit - 200)
if (scaleTarget < 20_000 && !args.quick) {
  log(`the hard file limit is ${hardLimit} per process and cannot be raised here (no CAP_SYS_RESOURCE): the scale phase holds ${scaleTarget} connections, not 20,000`)
}
const loadArgs = args.quick
  ? ['--connections', '500', '--unicast', '3000', '--paced-seconds', '2', '--broadcasts', '10', '--batch-calls', '30', '--idle', '1000']
  : []

const INTERLEAVED = ['floor', 'noframework', 'fastify', 'pusher']

/** One run of the load generator against a fresh `key` server on `port`; `load` replaces the phases' usual arguments. */
async function runOnce<T = RunResult>(key: string, port: number, load = ['--scale', String(scaleTarget)]): Promise<T> {
  const spec = servers[key]!
  const server = await startServer(spec, port)
  try {
    return await runLoadgen<T>(['--url', `http://127.0.0.1:${port}`, '--pid', String(server.pid), ...load, ...loadArgs, ...spec.load])
  } finally {
    await stopServer(server)
  }
}

prepare()
const chosen = args.servers!.split(',')
const repeats = Number(args.repeats)
const runs: Record<string, RunResult[]> = Object.fromEntries(chosen.map((key) => [key, []]))
for (let repeat = 0; repeat < repeats; repeat++) {
  for (const [index, key] of chosen.entries()) {
    // A fresh port each run: the last run's sockets linger in TIME_WAIT on the old one.
    const port = 9100 + repeat * 10 + index
    log(`run ${repeat + 1}/${repeats}: ${key} on port ${port}`)
    runs[key]!.push(await runOnce(key, port))
  }
}

/** The interleaved part: every server of it side by side (bench/interleaved.ts). */
function runInterleaved(rounds: number): Promise<Interleaved> {
  const specs = Object.fromEntries(INTERLEAVED.map((key) => [key, servers[key]!]))
  return runSideBySide(specs, 9200, ['--rounds', String(rounds), '--batch', 'pusher', ...(args.quick ? ['--slice', '3000'] : [])])
}

/**
 * The main runs' handshake figure is a fresh server's first connections, JIT warm-up
 * included, and runs made minutes apart put the servers in different periods of this
 * VM. Here fresh servers take that same phase one after the other, seconds apart, each
 * round in another order: per server, CPU µs per handshake, one per round.
 */
async function coldHandshakes(rounds: number): Promise<Record<string, number[]>> {
  const figures: Record<string, number[]> = {}
  let port = 9250
  for (let round = 0; round < rounds; round++) {
    for (const key of rotated(INTERLEAVED, round)) {
      const { handshakeCpuUs } = await runOnce<{ handshakeCpuUs: number }>(key, port++, ['--phases', ''])
      ;(figures[key] ??= []).push(handshakeCpuUs)
    }
  }
  return figures
}

const interleavedRounds = Number(args['interleaved-rounds'] ?? (args.quick ? 3 : 20))
let interleaved: Interleaved | undefined
if (interleavedRounds > 0) {
  log(`interleaved: ${INTERLEAVED.join(', ')} side by side, ${interleavedRounds} rounds`)
  interleaved = await runInterleaved(interleavedRounds)
  const coldRounds = Number(args['cold-rounds'] ?? (args.quick ? 1 : 5))
  log(`cold handshakes: ${INTERLEAVED.join(', ')} fresh, one after the other, ${coldRounds} rounds`)
  interleaved.coldHandshake = await coldHandshakes(coldRounds)
}

const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim()
const names = Object.fromEntries(Object.entries(servers).map(([key, spec]) => [key, spec.name]))
const table = [repeats > 0 && formatTable(runs, names), interleaved && formatInterleaved(interleaved, INTERLEAVED, names)].filter(Boolean).join('\n\n')
process.stdout.write(`${table}\n`)
// bench/RESULTS.md keeps its prose; only the part between the results markers is regenerated.
// Only a whole run replaces it: not a quick one, nor one that left out either part.
if (!args['no-write'] && !args.quick && repeats > 0 && interleaved !== undefined) {
  writeSection('results', resultsBlock([
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; hard file limit ${hardLimit}.`,
    `Command: \`${command}\` (${repeats} runs per server, medians; server on core 0, generator on core 1).`,
  ], table, { ...runs, ...(interleaved && { interleaved }) }))
}
