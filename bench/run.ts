// `npm run bench`: fastify-pusher, the bare `ws` floor and socket.io under the same load,
// each server pinned to core 0 and the load generator to core 1, several runs each,
// medians in one table (stdout and bench/RESULTS.md).
//
//   npm run bench -- [--repeats 3] [--servers floor,socketio,pusher,fastify,noframework] [--quick] [--no-write]
//
// `fastify` and `noframework` are our own reference servers (bench/reference/): the floor
// as a plain Fastify app, and fastify-pusher's /send work without a framework. They show
// where unicast's cost above the floor goes, so they run the handshake, paced and unicast
// phases only (paced also warms their code up before unicast, as it does the others').
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { log, machine, pinned, resultsBlock, root, runLoadgen, sh, waitForPort, writeSection } from './lib/harness.js'
import { formatTable, formatUnicastLadder, type RunResult } from './lib/report.js'

const { values: args } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    servers: { type: 'string', default: 'floor,socketio,pusher,fastify,noframework' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
})
const peerSource = process.env.PEER_HUBS ?? `${root}../shared/bench`
const peerDir = '/tmp/peer-hubs'
const API_KEY = 'bench-api-key-0123456789'

// A process may hold only as many sockets as its file limit allows; raise the soft
// limit to the hard one, and hold 20,000 connections only if that leaves room.
const hardLimit = Number(sh('ulimit -Hn'))
const scaleTarget = args.quick ? 3000 : Math.min(20_000, hardLimit - 100)
if (scaleTarget < 20_000 && !args.quick) {
  log(`the hard file limit is ${hardLimit} per process and cannot be raised here (no CAP_SYS_RESOURCE): the scale phase holds ${scaleTarget} connections, not 20,000`)
}
const loadArgs = args.quick
  ? ['--connections', '500', '--unicast', '3000', '--paced-seconds', '2', '--broadcasts', '10', '--batch-calls', '30', '--idle', '1000']
  : []

interface ServerSpec {
  name: string
  command: string[]
  env: Record<string, string>
  load: string[]
}
const servers: Record<string, ServerSpec> = {
  floor: { name: 'floor (ws + node:http)', command: [`${peerDir}/floor-hub.mjs`], env: {}, load: [] },
  socketio: { name: 'socket.io', command: [`${peerDir}/socketio-hub.mjs`], env: {}, load: ['--protocol', 'socketio'] },
  pusher: {
    name: 'fastify-pusher',
    command: ['node_modules/fastify-cli/cli.js', 'start', '--options', '-l', 'warn', 'dist/app.js'],
    // Sender authentication, schema validation and metrics stay on, as in production.
    env: { JWT_SECRET: 'secret', PUSHER_API_KEY: API_KEY },
    load: ['--batch', '--api-key', API_KEY],
  },
  fastify: {
    name: 'Fastify, bare (reference)',
    command: ['--import', 'tsx', 'bench/reference/fastify-bare.ts'],
    env: {},
    load: ['--phases', 'paced,unicast'],
  },
  noframework: {
    name: 'pusher checks, no framework (reference)',
    command: ['--import', 'tsx', 'bench/reference/no-framework.ts'],
    env: { PUSHER_API_KEY: API_KEY },
    load: ['--phases', 'paced,unicast', '--api-key', API_KEY],
  },
}

function prepare(): void {
  if (!existsSync(`${peerDir}/node_modules`)) {
    log(`installing the reference hubs from ${peerSource} into ${peerDir}`)
    sh(`rm -rf ${peerDir} && cp -r ${peerSource} ${peerDir} && npm ci --prefix ${peerDir} --no-audit --no-fund`)
  }
  log('building fastify-pusher (npm run build)')
  sh('npm run build')
}

async function runOnce(key: string, port: number): Promise<RunResult> {
  const spec = servers[key]!
  const server = pinned(0, [process.execPath, ...spec.command], { ...spec.env, PORT: String(port) }, 'inherit')
  try {
    await waitForPort(port, server)
    return await runLoadgen<RunResult>(['--url', `http://127.0.0.1:${port}`, '--pid', String(server.pid),
      '--scale', String(scaleTarget), ...loadArgs, ...spec.load])
  } finally {
    server.kill('SIGKILL')
    await once(server, 'exit').catch(() => {})
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

const command = `npm run bench -- ${process.argv.slice(2).join(' ')}`.trim()
const names = Object.fromEntries(chosen.map((key) => [key, servers[key]!.name]))
// The reference servers run a few phases only: they get the unicast table, not a column each.
const references = new Set(['fastify', 'noframework'])
const compared = Object.fromEntries(Object.entries(runs).filter(([key]) => !references.has(key)))
const table = [formatTable(compared, names), formatUnicastLadder(runs, names)].filter(Boolean).join('\n\n')
process.stdout.write(`${table}\n`)
// bench/RESULTS.md keeps its prose; only the part between the results markers is regenerated.
if (!args['no-write'] && !args.quick) {
  writeSection('results', resultsBlock([
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}; hard file limit ${hardLimit}.`,
    `Command: \`${command}\` (${repeats} runs per server, medians; server on core 0, generator on core 1).`,
  ], table, runs))
}
