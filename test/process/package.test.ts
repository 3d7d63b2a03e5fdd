// The package as a Fastify developer meets it: `npm pack`, the tarball installed into a
// scratch host app, the README's Embedding snippet type-checked with `tsc --strict`
// (no skipLibCheck) and run against a real client.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { test } from 'node:test'
import { type Client, connect, tempDir, token, type TestHub } from '../support/helpers.js'
import { freePort, waitForOutput } from '../support/processes.js'
import { root } from '../support/paths.js'

const run = promisify(execFile)
const versionOf = (name: string): string => (JSON.parse(readFileSync(join(root, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version

/** The first ```ts block of the README's Embedding section, as a reader would copy it. */
function embeddingSnippet(): string {
  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const section = readme.slice(readme.indexOf('\n## Embedding'))
  const block = /```ts\n([\s\S]*?)```/.exec(section)
  assert.ok(block, 'the README has no ```ts block under ## Embedding')
  return block[1]!
}

test('the packed tarball installs into a host app, type-checks with tsc --strict and runs the README snippet', { timeout: 300_000 }, async () => {
  const dir = tempDir('consumer')
  const { stdout } = await run('npm', ['pack', '--pack-destination', dir, '--silent'], { cwd: root, maxBuffer: 16 * 1024 * 1024 })
  const tarball = join(dir, stdout.trim().split('\n').at(-1)!)

  const app = join(dir, 'host-app')
  mkdirSync(app)
  writeFileSync(join(app, 'package.json'), JSON.stringify({
    name: 'host-app',
    private: true,
    type: 'module',
    dependencies: { 'fastify-pusher': `file:${tarball}`, fastify: versionOf('fastify') },
    devDependencies: { typescript: versionOf('typescript'), '@types/node': versionOf('@types/node') },
  }))
  // No install scripts: better-sqlite3 would compile for a minute, and the snippet keeps
  // no durable messages (the store loads it only with PUSHER_DB).
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--ignore-scripts', '--loglevel', 'error'], { cwd: app, maxBuffer: 16 * 1024 * 1024 })

  writeFileSync(join(app, 'index.ts'), embeddingSnippet())
  writeFileSync(join(app, 'tsconfig.json'), JSON.stringify({
    compilerOptions: { strict: true, target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', outDir: 'dist', types: ['node'] },
    include: ['index.ts'],
  }))
  let checked: string
  try {
    checked = (await run(join(app, 'node_modules', '.bin', 'tsc'), ['-p', app, '--listFiles'], { cwd: app, maxBuffer: 16 * 1024 * 1024 })).stdout
  } catch (error) {
    assert.fail(`tsc --strict failed on the README snippet:\n${(error as { stdout: string }).stdout}`)
  }
  // typebox's type engine made a host app's type-check three times slower; the shipped
  // declarations must not reach it.
  assert.doesNotMatch(checked, /node_modules\/typebox\//, 'the shipped declarations pull typebox into the host app')

  const port = await freePort()
  const secret = 'a-host-app-secret-that-is-long-enough-for-hs256'
  const child = spawn(process.execPath, ['dist/index.js'], {
    cwd: app,
    env: { ...process.env, PORT: String(port), JWT_SECRET: secret, PUSHER_API_KEY: 'host-app-api-key-0123456789' },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  try {
    await waitForOutput(child, 'stdout', /Server listening/)
    const hub = { wsUrl: `ws://127.0.0.1:${port}/push` } as TestHub
    const buyer: Client = await connect(hub, { token: token({ uid: 'buyer-1' }, { key: secret }) })
    const shipped = await fetch(`http://127.0.0.1:${port}/orders/7/ship`, { method: 'POST' })
    assert.equal(shipped.status, 200)
    assert.deepEqual(await shipped.json(), { delivered: 1, nodes: 1 })
    assert.deepEqual(await buyer.received(1), [JSON.stringify({ type: 'shipped', id: '7' })])
    await buyer.close()
  } finally {
    child.kill('SIGKILL')
  }
})
