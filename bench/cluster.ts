// `npm run bench:cluster`: what crossing nodes through Redis costs. The same unicast and
// fanout loads on one node without Redis, one node in cluster mode, and two nodes
// (separate processes) where every client holds its connection on node B and every
// send goes to node A, so each message crosses Redis. Server CPU is summed over the
// nodes; Redis commands are counted through MONITOR during each phase (a script counts once).
//
//   npm run bench:cluster -- [--repeats 3] [--quick] [--no-write]
import { type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { parseArgs } from 'node:util'
import { log, machine, pinned, resultsBlock, runLoadgen, sh, waitForPort, writeSection } from './lib/harness.js'
import { medianOf, type RunResult } from './lib/report.js'

const { values: args } = parseArgs({
  options: {
    repeats: { type: 'string', default: '3' },
    quick: { type: 'boolean', default: false },
    'no-write': { type: 'boolean', default: false },
  },
})
const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const API_KEY = 'bench-api-key-0123456789'
const load = args.quick ? ['--connections', '500', '--unicast', '3000', '--broadcasts', '10'] : ['--connections', '2000', '--unicast', '20000', '--broadcasts', '50']

interface Setup {
  name: string
  /** Node environments; the first takes the sends, the last holds the clients. */
  nodes: Array<Record<string, string>>
  redis: boolean
}

const prefix = `pusher-bench-${process.pid}:`
const cluster = (nodeId: string) => ({ REDIS_URL, PUSHER_REDIS_PREFIX: prefix, PUSHER_NODE_ID: nodeId })
const setups: Setup[] = [
  { name: 'one node, no Redis', nodes: [{}], redis: false },
  { name: 'one node, cluster mode', nodes: [cluster('solo')], redis: true },
  { name: 'two nodes: send to A, clients on B', nodes: [cluster('a'), cluster('b')], redis: true },
]

async function runOnce(setup: Setup, basePort: number): Promise<RunResult> {
  const servers: ChildProcess[] = []
  try {
    const ports = setup.nodes.map((_, i) => basePort + i)
    for (const [i, env] of setup.nodes.entries()) {
      const server = pinned(0, [process.execPath, 'node_modules/fastify-cli/cli.js', 'start', '--options', '-l', 'warn', 'dist/app.js'],
        { ...env, JWT_SECRET: 'secret', PUSHER_API_KEY: API_KEY, PORT: String(ports[i]) }, 'inherit')
      servers.push(server)
      await waitForPort(ports[i]!, server)
    }
    return await runLoadgen<RunResult>(['--url', `http://127.0.0.1:${ports[0]}`, '--ws-url', `http://127.0.0.1:${ports.at(-1)}`,
      '--pid', servers.map((s) => s.pid).join(','), '--api-key', API_KEY, '--phases', 'unicast,fanout',
      ...(setup.redis ? ['--redis-url', REDIS_URL] : []), ...load])
  } finally {
    for (const server of servers) server.kill('SIGKILL')
    await Promise.all(servers.map((server) => once(server, 'exit').catch(() => {})))
  }
}

log('building fastify-pusher (npm run build)')
sh('npm run build')
const repeats = Number(args.repeats)
const runs: RunResult[][] = setups.map(() => [])
for (let repeat = 0; repeat < repeats; repeat++) {
  for (const [index, setup] of setups.entries()) {
    log(`run ${repeat + 1}/${repeats}: ${setup.name}`)
    runs[index]!.push(await runOnce(setup, 9500 + repeat * 20 + index * 4))
  }
}
sh(`redis-cli -u ${REDIS_URL} --scan --pattern '${prefix}*' | xargs -r redis-cli -u ${REDIS_URL} del > /dev/null`)

const base = medianOf(runs[0]!, 'unicastCpuUs')
const fmt = (value: number, digits: number) => (Number.isFinite(value) ? value.toFixed(digits) : '—')
const rows = setups.map((setup, i) => {
  const unicast = medianOf(runs[i]!, 'unicastCpuUs')
  return [
    setup.name,
    fmt(unicast, 1),
    `+${fmt(unicast - base, 1)}`,
    fmt(medianOf(runs[i]!, 'unicastRedisCommands'), 2),
    fmt(medianOf(runs[i]!, 'unicastLatencyMs.p50'), 2),
    fmt(medianOf(runs[i]!, 'fanoutCpuNs'), 0),
    fmt(medianOf(runs[i]!, 'burstFanoutCpuNs'), 0),
    fmt(medianOf(runs[i]!, 'fanoutRedisCommandsPerBroadcast'), 1),
  ]
})
const head = ['setup', 'unicast: server CPU µs / message (all nodes)', 'extra vs one node without Redis',
  'Redis commands / message', 'unicast latency p50 ms', 'fanout: CPU ns / delivery', 'burst fanout: CPU ns / delivery', 'Redis commands / broadcast']
const line = (cells: string[]) => `| ${cells.join(' | ')} |`
const table = [line(head), line(head.map(() => '---')), ...rows.map(line)].join('\n')
process.stdout.write(`${table}\n`)
if (!args['no-write'] && !args.quick) {
  writeSection('cluster', resultsBlock([
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}, Redis at ${REDIS_URL} (unpinned).`,
    `Command: \`npm run bench:cluster -- ${process.argv.slice(2).join(' ')}\` (${repeats} runs each, medians; every node on core 0, generator on core 1).`,
  ], table, Object.fromEntries(setups.map((setup, i) => [setup.name, runs[i]]))))
}
