// `npm test`: every test file, and the type-check at the same time. The test files spend
// most of their time waiting on sockets, timers and child processes, which leaves the
// CPU to tsc: run one after the other, the suite took ten seconds longer. dist/ is
// built first (when stale), since the process tests run it. Fails if either fails.
//
// The tests run as JavaScript: esbuild transpiles every TypeScript file of the project
// into .test-build/, a mirror of the tree, in under a second. Through tsx's loader each
// test process spent a second of CPU more than plain JavaScript, resolving the hub's
// thousand modules through the loader's thread: on this 2-core machine, half a minute of
// the suite. Types are tsc's job, alongside. (One file still runs from source:
// node --import tsx --test test/…/x.test.ts.)
import { spawn, spawnSync } from 'node:child_process'
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { pathToFileURL } from 'node:url'
import { build } from 'esbuild'

const root = new URL('..', import.meta.url).pathname
const dist = spawnSync(process.execPath, [join(root, 'scripts/build-if-stale.mjs')], { cwd: root, stdio: 'inherit' })
if (dist.status !== 0) process.exit(dist.status ?? 1)

// test/<layer>/<name>.test.ts. The layers whose files take longest (child processes,
// Chromium, node faults) start first, so that the many short files fill in around them
// instead of one long file running alone at the end.
const FIRST = ['process', 'browser', 'cluster']
const rank = (layer) => (FIRST.includes(layer) ? FIRST.indexOf(layer) : FIRST.length)
const files = readdirSync(join(root, 'test'), { withFileTypes: true })
  .filter((entry) => entry.isDirectory())
  .sort((a, b) => rank(a.name) - rank(b.name) || a.name.localeCompare(b.name))
  .flatMap((dir) => readdirSync(join(root, 'test', dir.name)).filter((name) => name.endsWith('.test.ts')).sort().map((name) => `test/${dir.name}/${name}`))

/** Every TypeScript file under `dir` (declarations and type tests aside), recursively. */
const sources = (dir) => readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
  const path = join(dir, entry.name)
  if (entry.isDirectory()) return sources(path)
  return entry.name.endsWith('.ts') && !entry.name.endsWith('.d.ts') && !entry.name.endsWith('.test-d.ts') ? [path] : []
})
const out = join(root, '.test-build')
rmSync(out, { recursive: true, force: true })
await build({
  entryPoints: ['app.ts', ...['lib', 'plugins', 'routes', 'bin', 'client', 'test'].flatMap(sources)].map((path) => join(root, path)),
  outdir: out,
  outbase: root,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // Stack traces of a failing test point into the TypeScript (node --enable-source-maps).
  sourcemap: 'inline',
  logLevel: 'warning',
})
const compiled = (file) => join(out, file.replace(/\.ts$/, '.js'))

// Several files share a process. Each process spent about a second of CPU loading the
// hub's modules and starting Fastify before its first test: sixty of them, a minute of
// CPU, half a minute of the suite on two cores. A group imports its files one after the other, each inside
// a describe named after it, so that a file's top-level hooks (before, beforeEach, ...)
// stay its own. The layers that start child processes or a browser keep a process per
// file: they are long, and they measure processes. Any file still runs alone:
// node --import tsx --test test/<layer>/<name>.test.ts.
const ALONE = new Set(['process', 'browser'])
const GROUP_SIZE = 6
const units = []
for (const layer of [...new Set(files.map((file) => file.split('/')[1]))]) {
  const inLayer = files.filter((file) => file.split('/')[1] === layer)
  if (ALONE.has(layer)) {
    units.push(...inLayer.map((file) => relative(root, compiled(file))))
    continue
  }
  for (let i = 0; i < inLayer.length; i += GROUP_SIZE) {
    const group = inLayer.slice(i, i + GROUP_SIZE)
    const path = join(out, 'groups', `${layer}-${i / GROUP_SIZE + 1}.test.js`)
    mkdirSync(dirname(path), { recursive: true })
    writeFileSync(path, [
      "import { describe } from 'node:test'",
      ...group.map((file) => `describe(${JSON.stringify(file)}, async () => { await import(${JSON.stringify(pathToFileURL(compiled(file)).href)}) })`),
    ].join('\n') + '\n')
    units.push(relative(root, path))
  }
}

/** Runs a command; resolves with its exit code. */
const run = (command, args) => new Promise((resolve) => {
  spawn(command, args, { cwd: root, stdio: 'inherit' }).on('exit', (code, signal) => resolve(code ?? (signal ? 1 : 0)))
})

const [typecheck, tests] = await Promise.all([
  // Incremental: a second run re-checks only what changed since the first (what it
  // keeps, under node_modules/.cache, is not part of the source tree).
  run(join(root, 'node_modules/.bin/tsc'), ['-p', 'tsconfig.json', '--noEmit', '--incremental', '--tsBuildInfoFile', join(root, 'node_modules/.cache/fastify-pusher/typecheck.tsbuildinfo')]),
  // Two at a time, on two cores. Three was no faster, and made the timing-sensitive
  // client-library tests of token refresh time out now and then.
  run(process.execPath, ['--enable-source-maps', '--test', '--test-concurrency=2', ...process.argv.slice(2), ...units]),
])
if (typecheck !== 0) console.error('npm test: the type-check failed (npm run typecheck shows the errors again)')
process.exit(typecheck !== 0 ? typecheck : tests)
