// `npm run bench:profile-ab`: where a change's extra CPU goes. Profiles a base revision
// and the working tree under the same phase, in turns, and prints each package's busy
// time divided by one package's whose work per unit is the same in both builds (ws for
// handshakes: the upgrade itself, with the Node socket and stream work it calls, which
// counts as ws's here). Two profiles taken a minute apart on this VM differ
// in speed by up to a quarter, which hides a few percent; a ratio inside one profile
// does not drift with the machine. What rises against the base is where to look.
//
//   npm run bench:profile-ab -- [--base HEAD] [--phase handshakes] [--runs 2] [--per ws]
//
// Samples every 100 µs (ten times bench:profile's rate), from the first upgrade on for
// handshakes and after the last one for the other phases. The profiles stay in
// bench/profiles/ab-*/ for a closer look (DevTools, speedscope).
import { parseArgs } from 'node:util'
import { summarizeProfile } from './lib/cpuprofile.js'
import { log, root } from './lib/harness.js'
import { type Phase, PHASES, profileServer } from './lib/profiling.js'
import { buildBase, prepare, servers } from './lib/servers.js'

const { values: args } = parseArgs({
  options: {
    base: { type: 'string', default: 'HEAD' },
    phase: { type: 'string', default: 'handshakes' },
    runs: { type: 'string', default: '2' },
    per: { type: 'string', default: 'ws' },
  },
})
const phase = args.phase as Phase
if (!PHASES.includes(phase)) throw new Error(`no phase ${phase}: one of ${PHASES.join(', ')}`)
const per = args.per!

prepare()
const base = buildBase(args.base!)
const builds = { base: base.spec, current: servers.pusher! }
/** Per build, one map per run: package → ms per ms of `per`. */
const ratios: Record<keyof typeof builds, Array<Map<string, number>>> = { base: [], current: [] }
try {
  for (let run = 0; run < Number(args.runs); run++) {
    for (const [name, spec] of Object.entries(builds) as Array<[keyof typeof builds, typeof base.spec]>) {
      log(`${name}, run ${run + 1}`)
      const path = await profileServer(spec, phase, `${root}bench/profiles/ab-${name}-${run + 1}`, 9300, 100)
      const window = phase === 'handshakes' ? { from: 'completeUpgrade' } : { after: 'completeUpgrade' }
      const { byPackage, busyMs } = summarizeProfile(path, { ...window, nodeToCaller: true })
      const unit = byPackage.find(([pkg]) => pkg === per)?.[1]
      if (unit === undefined || unit === 0) throw new Error(`no time in ${per} in ${path}: pick another --per`)
      ratios[name].push(new Map([['(all)', busyMs / unit], ...byPackage.map(([pkg, ms]) => [pkg, ms / unit] as [string, number])]))
    }
  }
} finally {
  base.remove()
}

const packages = [...new Set([...ratios.base, ...ratios.current].flatMap((run) => [...run.keys()]))]
  .sort((a, b) => (ratios.base[0]!.get(b) ?? 0) - (ratios.base[0]!.get(a) ?? 0))
const cells = (runs: Array<Map<string, number>>, pkg: string) => runs.map((run) => (run.get(pkg) ?? 0).toFixed(3)).join(' / ')
const mean = (runs: Array<Map<string, number>>, pkg: string) => runs.reduce((sum, run) => sum + (run.get(pkg) ?? 0), 0) / runs.length
process.stdout.write([
  `${phase}: busy time per ms of ${per}'s, by package (the time of Node's own and native code counted for the package that called it), each run`,
  '',
  `| package | ${base.revision} | working tree | change (means) |`,
  '| --- | --- | --- | --- |',
  ...packages.map((pkg) => {
    const change = mean(ratios.current, pkg) - mean(ratios.base, pkg)
    return `| ${pkg} | ${cells(ratios.base, pkg)} | ${cells(ratios.current, pkg)} | ${change >= 0 ? '+' : ''}${change.toFixed(3)} |`
  }),
  '',
].join('\n'))
log('done')
