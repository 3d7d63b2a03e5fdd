// `npm run bench:ab`: does a change make fastify-pusher faster? The working tree and a
// base revision run side by side with the floor, through the interleaved part
// (bench/interleaved.ts), so that both are measured under the same machine conditions
// within seconds of each other. On this VM, whose speed drifts by up to 2x between
// periods, two runs made one after the other cannot show a change of a few percent.
//
//   npm run bench:ab -- [--base HEAD] [--rounds 6] [--handshakes 2000]
// --handshakes: per server and round; more of them steady the handshake figure, whose
// rounds vary most (a slice's garbage is collected in whichever slice comes next).
//
// The base is checked out and built in a git worktree under /tmp. Prints the interleaved
// table for the floor, the base and the working tree, then the working tree's figures
// divided by the base's, round by round (median and range).
import { parseArgs } from 'node:util'
import { formatInterleaved, type Interleaved } from './lib/report.js'
import { buildBase, prepare, runSideBySide, servers } from './lib/servers.js'
import { median } from './lib/stats.js'

const { values: args } = parseArgs({ options: { base: { type: 'string', default: 'HEAD' }, rounds: { type: 'string', default: '6' }, handshakes: { type: 'string', default: '2000' } } })

prepare()
const base = buildBase(args.base!)
const revision = base.revision
const specs = {
  floor: servers.floor!,
  base: base.spec,
  current: servers.pusher!,
}
let figures: Interleaved
try {
  figures = await runSideBySide(specs, 9400, ['--rounds', args.rounds!, '--handshake-slice', args.handshakes!, '--batch', 'base', '--batch', 'current'])
} finally {
  base.remove()
}

const names = { floor: servers.floor!.name, base: base.spec.name, current: 'fastify-pusher, working tree' }
const changes = (['unicast', 'handshake', 'batch'] as const).map((figure) => {
  const ratios = figures[figure]!.current!.map((value, round) => value / figures[figure]!.base![round]!)
  return `| ${figure} | ${median(ratios).toFixed(3)}× | ${Math.min(...ratios).toFixed(3)}–${Math.max(...ratios).toFixed(3)} |`
})
process.stdout.write([
  formatInterleaved(figures, Object.keys(specs), names),
  '',
  `| working tree ÷ ${revision}, CPU per unit | median of ${args.rounds} rounds | range |`,
  '| --- | --- | --- |',
  ...changes,
  '',
].join('\n'))
