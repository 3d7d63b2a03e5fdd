// `npm run bench:profile`: where a server's time goes under one phase of the load.
// Runs the server pinned to core 0 under `node --cpu-prof`, the load generator on core 1,
// then prints the busy time by package and the top functions by self time, and writes
// the profile and its collapsed stacks to bench/profiles/.
//
//   npm run bench:profile -- [--server pusher|floor|fastify|noframework] [--phase unicast|batch|fanout|handshakes]
//
// Open the .cpuprofile in Chrome DevTools (Performance) or https://www.speedscope.app
// for a flame graph, or feed the .collapsed file to flamegraph.pl.
import { once } from 'node:events'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { summarizeProfile } from './lib/cpuprofile.js'
import { log, root, runLoadgen } from './lib/harness.js'
import { prepare, servers, startServer, stopServer } from './lib/servers.js'

const { values: args } = parseArgs({
  options: {
    server: { type: 'string', default: 'pusher' },
    phase: { type: 'string', default: 'unicast' },
    top: { type: 'string', default: '25' },
  },
})
const spec = servers[args.server!]
if (spec === undefined) throw new Error(`no server ${args.server}: one of ${Object.keys(servers).join(', ')}`)
const phase = args.phase!
// Only fastify-pusher has POST /send/batch.
if (phase === 'batch' && args.server !== 'pusher') throw new Error('the batch phase needs --server pusher')

prepare()
const dir = `${root}bench/profiles/${args.server}-${phase}`
rmSync(dir, { recursive: true, force: true })
mkdirSync(dir, { recursive: true })
const port = 9300
// --cpu-prof writes the profile when the process exits normally; SIGINT makes it exit so.
// (Double quotes inside: pinned() single-quotes every argument for bash.)
const exitOnInterrupt = 'data:text/javascript,process.once("SIGINT",()=>process.exit(0))'
const server = await startServer(spec, port, ['--import', exitOnInterrupt, '--cpu-prof', `--cpu-prof-dir=${dir}`])
try {
  // Twice the usual load (five times the handshakes), so that the phase outweighs the
  // server's startup in the profile.
  const load = ['--unicast', '40000', '--batch-calls', '400', '--broadcasts', '100', ...(phase === 'handshakes' ? ['--connections', '10000'] : [])]
  await runLoadgen(['--url', `http://127.0.0.1:${port}`, '--pid', String(server.pid), '--phases', phase === 'handshakes' ? '' : phase,
    ...load, ...spec.load])
} catch (error) {
  await stopServer(server)
  throw error
}
server.kill('SIGINT')
await once(server, 'exit')

// One profile per thread that ran JavaScript; the main thread's (thread 0) sorts first.
const file = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile')).sort()[0]
if (file === undefined) throw new Error(`no profile in ${dir}`)
// Past the last upgrade is the phase alone, without the startup and the handshakes.
const summary = summarizeProfile(`${dir}/${file}`, phase === 'handshakes' ? undefined : 'completeUpgrade')
writeFileSync(`${dir}/${phase}.collapsed`, summary.collapsed)
const percent = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1).padStart(5)}%`
process.stdout.write([
  `${spec.name}, ${phase}: ${summary.busyMs.toFixed(0)} ms busy${phase === 'handshakes' ? ' (startup included)' : ''}`,
  '', 'by package (native time counted for the package that called it):',
  ...summary.byPackage.slice(0, 12).map(([name, ms]) => `${percent(ms)}  ${name}`),
  '', 'by function, self time:',
  ...summary.byFunction.slice(0, Number(args.top)).map(([name, ms]) => `${percent(ms)}  ${name}`),
  '', `profile: ${dir}/${file}`, `collapsed stacks: ${dir}/${phase}.collapsed`, '',
].join('\n'))
log('done')
