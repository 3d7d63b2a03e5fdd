// The README's newcomer path, for real: `npm start` (a build when the sources changed,
// then bin/pusher-hub) refuses to run without secrets, in one line; development mode
// prints secrets and a token that work; the token command mints more; SIGTERM closes
// clients with 1001 and exits cleanly. Each test builds dist/ if it is stale, so each
// runs on its own.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { test } from 'node:test'
import { CloseCode } from '../../app.js'
import { connect, type TestHub } from '../support/helpers.js'
import { freePort, waitForOutput } from '../support/processes.js'
import { root } from '../support/paths.js'


/** The environment of a fresh shell: none of the hub's variables set. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const name of Object.keys(env)) if (/^(JWT_|PUSHER_|FASTIFY_|PORT$)/.test(name)) delete env[name]
  return { ...env, ...extra }
}

/** What `npm start` runs before the hub: a build of dist/ if a source is newer. */
const buildIfStale = () => promisify(execFile)(process.execPath, ['scripts/build-if-stale.mjs'], { cwd: root })

test('npm start without JWT_SECRET or PUSHER_API_KEY refuses to start in one line that says what to set', { timeout: 120_000 }, async () => {
  const child = spawn('npm', ['start', '--silent'], { cwd: root, env: cleanEnv({ PORT: String(await freePort()) }), stdio: ['ignore', 'pipe', 'pipe'] })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk })
  const [code] = await once(child, 'exit')
  assert.equal(code, 1)
  // A build line may come first; the refusal itself is one line, with no stack.
  const lines = stderr.trim().split('\n').filter((line) => !/^building dist/.test(line))
  assert.equal(lines.length, 1, stderr)
  assert.match(lines[0]!, /^fastify-pusher: no JWT key: set JWT_SECRET/)
  assert.match(lines[0]!, /PUSHER_DEV=true/)
})

test('a second npm start reuses dist/: it listens without building again', { timeout: 120_000 }, async () => {
  await buildIfStale()
  const stamp = join(root, 'dist', '.build-stamp')
  const built = statSync(stamp).mtimeMs
  const port = await freePort()
  const child = spawn('npm', ['start', '--silent'], { cwd: root, env: cleanEnv({ PORT: String(port), PUSHER_DEV: 'true' }), stdio: ['ignore', 'pipe', 'pipe'], detached: true })
  let stderr = ''
  child.stderr!.on('data', (chunk: Buffer) => { stderr += chunk })
  try {
    await waitForOutput(child, 'stdout', /Server listening/)
    // How long that takes is a figure for the benchmarks (bench/RESULTS.md), not a test.
    assert.doesNotMatch(stderr, /building dist/)
    assert.equal(statSync(stamp).mtimeMs, built, 'dist/ was built again')
    const notFound = await fetch(`http://127.0.0.1:${port}/nowhere?token=secret`)
    assert.equal(notFound.status, 404)
    const body = await notFound.json() as { code: string; message: string }
    assert.equal(body.code, 'PUSHER_ERR_ROUTE_NOT_FOUND')
    assert.match(body.message, /^No route GET \/nowhere:/)
  } finally {
    // npm and the hub under it, as a group.
    process.kill(-child.pid!, 'SIGKILL')
  }
})

test('pusher-token --help prints its usage; bad input gets the usage and exit 2', async () => {
  await buildIfStale()
  const token = (args: string[], env: Record<string, string> = {}) =>
    promisify(execFile)(process.execPath, ['dist/bin/pusher-token.js', ...args], { cwd: root, env: cleanEnv(env) })
  const help = await token(['--help'])
  assert.match(help.stdout, /^usage: JWT_SECRET=<secret> pusher-token <uid>/)
  await assert.rejects(token(['alice', '--nope'], { JWT_SECRET: 'x'.repeat(32) }), (error: { code: number; stderr: string }) => {
    assert.equal(error.code, 2)
    assert.match(error.stderr, /Unknown option '--nope'/)
    assert.match(error.stderr, /usage:/)
    assert.doesNotMatch(error.stderr, /at .*\.js:\d+/)
    return true
  })
  await assert.rejects(token(['alice']), /JWT_SECRET is not set/)
  await assert.rejects(token(['alice', '--topics', 'news', '--topic', 'news'], { JWT_SECRET: 'x'.repeat(32) }), /do not go together/)
  await assert.rejects(token(['alice', '--topics', 'news,no spaces'], { JWT_SECRET: 'x'.repeat(32) }), /topic may hold only letters, digits/)
})

test('development mode prints secrets and a token that work end to end; SIGTERM closes clients with 1001', { timeout: 60_000 }, async () => {
  await buildIfStale()
  const port = await freePort()
  // What `npm start` runs once built.
  const child = spawn(process.execPath, ['dist/bin/pusher-hub.js'], {
    cwd: root,
    env: cleanEnv({ PORT: String(port), PUSHER_DEV: 'true' }),
    stdio: ['ignore', 'ignore', 'pipe'],
  })
  try {
    const banner = await waitForOutput(child, 'stderr', /Metrics: \S+/)
    const apiKey = /PUSHER_API_KEY=(\S+)/.exec(banner)![1]!
    const secret = /^ {2}JWT_SECRET=(\S+)/m.exec(banner)![1]!
    const demoToken = /\/ws\?token=([\w.-]+)/.exec(banner)![1]!
    const base = `127.0.0.1:${port}`
    const hub = { url: `http://${base}`, wsUrl: `ws://${base}` } as TestHub

    const demo = await connect(hub, { token: demoToken })
    // The token command, as the README shows it (JWT_SECRET=... npm run token -- alice).
    const { stdout } = await promisify(execFile)(process.execPath, ['dist/bin/pusher-token.js', 'alice'], { cwd: root, env: cleanEnv({ JWT_SECRET: secret }) })
    const alice = await connect(hub, { token: stdout.trim() })

    for (const uid of ['demo', 'alice']) {
      const response = await fetch(`${hub.url}/send`, {
        method: 'POST',
        headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/x-www-form-urlencoded' },
        body: `uid=${uid}&message=hello`,
      })
      assert.equal(response.status, 200)
    }
    assert.deepEqual(await demo.received(1), ['hello'])
    assert.deepEqual(await alice.received(1), ['hello'])

    assert.match(await (await fetch(`${hub.url}/metrics`)).text(), /^connections 2$/m)

    // A token whose topics claim the command wrote: its connection gets what is published there.
    const watcherToken = (await promisify(execFile)(process.execPath, ['dist/bin/pusher-token.js', 'carol', '--topics', 'news,order/7'], { cwd: root, env: cleanEnv({ JWT_SECRET: secret }) })).stdout.trim()
    const carol = await connect(hub, { token: watcherToken })
    const published = await fetch(`${hub.url}/publish`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/json' },
      body: JSON.stringify({ topic: 'order/7', message: 'shipped' }),
    })
    assert.deepEqual(await published.json(), { delivered: 1, nodes: 1 })
    assert.deepEqual(await carol.received(1), ['shipped'])

    // Durable sends work in a try-out too, kept in memory, as the banner says.
    assert.match(banner, /ttl=60\) are kept in memory/)
    const durable = await fetch(`${hub.url}/send`, {
      method: 'POST',
      headers: { authorization: `Bearer ${apiKey}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'uid=bob&message=kept&ttl=60',
    })
    assert.equal(durable.status, 202)
    const bob = await connect(hub, { token: (await promisify(execFile)(process.execPath, ['dist/bin/pusher-token.js', 'bob'], { cwd: root, env: cleanEnv({ JWT_SECRET: secret }) })).stdout.trim() })
    assert.deepEqual(await bob.received(1), ['kept'])

    const closes = [demo.closed(), alice.closed(), bob.closed(), carol.closed()]
    child.kill('SIGTERM')
    for (const closed of closes) assert.equal((await closed).code, CloseCode.GOING_AWAY)
    const [code] = await once(child, 'exit')
    assert.equal(code, 0)
  } finally {
    child.kill('SIGKILL')
  }
})
