// The README's newcomer path, for real: `npm start` (build + fastify-cli) refuses to
// run without secrets; development mode prints secrets and a token that work; the
// token command mints more; SIGTERM closes clients with 1001 and exits cleanly.
import assert from 'node:assert/strict'
import { execFile, spawn } from 'node:child_process'
import { once } from 'node:events'
import { promisify } from 'node:util'
import { test } from 'node:test'
import { CloseCode } from '../app.js'
import { connect, type TestHub } from './helpers.js'
import { freePort, waitForOutput } from './processes.js'

const root = new URL('..', import.meta.url).pathname

/** The environment of a fresh shell: none of the hub's variables set. */
function cleanEnv(extra: Record<string, string>): NodeJS.ProcessEnv {
  const env = { ...process.env }
  for (const name of Object.keys(env)) if (/^(JWT_|PUSHER_|FASTIFY_|PORT$)/.test(name)) delete env[name]
  return { ...env, ...extra }
}

test('npm start without JWT_SECRET or PUSHER_API_KEY refuses to start and says what to set', { timeout: 120_000 }, async () => {
  const child = spawn('npm', ['start'], { cwd: root, env: cleanEnv({ PORT: String(await freePort()) }), stdio: ['ignore', 'pipe', 'pipe'] })
  let output = ''
  child.stdout!.on('data', (chunk: Buffer) => { output += chunk })
  child.stderr!.on('data', (chunk: Buffer) => { output += chunk })
  const [code] = await once(child, 'exit')
  assert.notEqual(code, 0)
  assert.match(output, /PUSHER_ERR_CONFIG|JWT_SECRET/)
  assert.match(output, /set JWT_SECRET/)
  assert.match(output, /PUSHER_DEV=true/)
})

test('development mode prints secrets and a token that work end to end; SIGTERM closes clients with 1001', { timeout: 60_000 }, async () => {
  const port = await freePort()
  // What `npm start` runs once built (the previous test built dist/).
  const child = spawn(process.execPath, ['node_modules/fastify-cli/cli.js', 'start', '--options', '--close-grace-delay', '10000', 'dist/app.js'], {
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

    const closes = [demo.closed(), alice.closed(), bob.closed()]
    child.kill('SIGTERM')
    for (const closed of closes) assert.equal((await closed).code, CloseCode.GOING_AWAY)
    const [code] = await once(child, 'exit')
    assert.equal(code, 0)
  } finally {
    child.kill('SIGKILL')
  }
})
