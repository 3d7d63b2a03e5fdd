// `npm test`: every test file, and the type-check at the same time. The test files spend
// most of their time waiting on sockets, timers and child processes, which leaves the
// CPU to tsc: run one after the other, the suite took ten seconds longer. dist/ is
// built first (when stale), since the process tests run it. Fails if either fails.
import { spawn, spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const build = spawnSync(process.execPath, [join(root, 'scripts/build-if-stale.mjs')], { cwd: root, stdio: 'inherit' })
if (build.status !== 0) process.exit(build.status ?? 1)

// test/<layer>/<name>.test.ts. The layers whose files take longest (child processes,
// Chromium, node faults) start first, so that the many short files fill in around them
// instead of one long file running alone at the end.
const FIRST = ['process', 'browser', 'cluster']
const rank = (layer) => (FIRST.includes(layer) ? FIRST.indexOf(layer) : FIRST.length)
const files = readdirSync(join(root, 'test'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name))
  .flatMap((dir) => readdirSync(join(root, 'test', dir.name)).filter((name) => name.endsWith('.test.ts')).sort().map((name) => `test/${dir.name}/${name}`))

/** Runs a command; resolves with its exit code. */
const run = (command, args) => new Promise((resolve) => {
  spawn(command, args, { cwd: root, stdio: 'inherit' }).on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)))
})

const [typecheck, tests] = await Promise.all([
  run(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json', '--noEmit']),
  run(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=2', ...process.argv.slice(2), ...files]),
])
if (typecheck !== 0) console.error('npm test: the type-check failed (npm run typecheck shows the errors again)')
process.exit(typecheck !== 0 ? typecheck : tests)
