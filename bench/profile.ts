// `npm run bench:profile`: where a server's time goes under one phase of the load.
// Runs the server pinned to core 0 under `node --cpu-prof`, the load generator on core 1,
// then prints the busy time by package and the top functions by self time, and writes
// the profile and its collapsed stacks to bench/profiles/.
//
//   npm run bench:profile -- [--server pusher|floor|fastify|noframework] [--phase unicast|batch|fanout|handshakes]
//
// Open the .cpuprofile in Chrome DevTools (Performance) or https://www.speedscope.app
// for a flame graph, or feed the .collapsed file to flamegraph.pl.
import { writeFileSync } from 'node:fs'
import { parseArgs } from 'node:util'
import { summarizeProfile } from './lib/cpuprofile.js'
import { log, root } from './lib/harness.js'
import { type Phase, PHASES, profileServer } from './lib/profiling.js'
import { prepare, servers } from './lib/servers.js'

const { values: args } = parseArgs({
  options: {
    server: { type: 'string', default: 'pusher' },
    phase: { type: 'string', default: 'unicast' },
    top: { type: 'string', default: '25' },
  },
})
const spec = servers[args.server!]
if (spec === undefined) throw new Error(`no server ${args.server}: one of ${Object.keys(servers).join(', ')}`)
const phase = args.phase as Phase
if (!PHASES.includes(phase)) throw new Error(`no phase ${phase}: one of ${PHASES.join(', ')}`)
// Only fastify-pusher has POST /send/batch.
if (phase === 'batch' && args.server !== 'pusher') throw new Error('the batch phase needs --server pusher')

prepare()
const dir = `${root}bench/profiles/${args.server}-${phase}`
const path = await profileServer(spec, phase, dir, 9300)

// Past the last upgrade is the phase alone, without the startup and the handshakes.
const summary = summarizeProfile(path, phase === 'handshakes' ? {} : { after: 'completeUpgrade' })
writeFileSync(`${dir}/${phase}.collapsed`, summary.collapsed)
const percent = (ms: number) => `${((100 * ms) / summary.busyMs).toFixed(1).padStart(5)}%`
process.stdout.write([
  `${spec.name}, ${phase}: ${summary.busyMs.toFixed(0)} ms busy${phase === 'handshakes' ? ' (startup included)' : ''}`,
  '', 'by package (native time counted for the package that called it):',
  ...summary.byPackage.slice(0, 12).map(([name, ms]) => `${percent(ms)}  ${name}`),
  '', 'by function, self time:',
  ...summary.byFunction.slice(0, Number(args.top)).map(([name, ms]) => `${percent(ms)}  ${name}`),
  '', `profile: ${path}`, `collapsed stacks: ${dir}/${phase}.collapsed`, '',
].join('\n'))
log('done')
