// The healthchecks the image and the compose files ship, run as Docker runs them (the
// command with the container's environment) against a real hub: healthy while the hub
// serves (the image: /health) or can deliver (compose: /ready), unhealthy otherwise.
import assert from 'node:assert/strict'
import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { promisify } from 'node:util'
import { test } from 'node:test'
import type Database from 'better-sqlite3'
import type { TimedStore } from '../../lib/store/timing.js'
import { startHub, tempDir, type TestHub } from '../support/helpers.js'
import { freePort } from '../support/processes.js'
import { root } from '../support/paths.js'

const read = (file: string) => readFileSync(join(root, file), 'utf8')

/** The exec-form command of the Dockerfile's HEALTHCHECK. */
const imageCheck = JSON.parse(/^\s*CMD (\[.*\])$/m.exec(read('Dockerfile').split('HEALTHCHECK')[1]!)![1]!) as string[]
/** The argv of every compose healthcheck `test: ["CMD", ...]` that runs node (the hubs'; not redis-cli's). */
const composeChecks = ['deploy/compose.yaml', 'deploy/compose.cluster.yaml'].flatMap((file) =>
  [...read(file).matchAll(/^\s*test: (\[.*\])$/gm)].map((match) => JSON.parse(match[1]!) as string[])
    .filter(([form, program]) => form === 'CMD' && program === 'node')
    .map(([, ...command]) => ({ file, command })))

/** Runs a healthcheck's argv with the container's environment; resolves with its exit code. */
async function runCheck(command: string[], env: Record<string, string>): Promise<number> {
  const [program, ...args] = command
  // `node` in the image; the same Node here.
  const file = program === 'node' ? process.execPath : program!
  try {
    await promisify(execFile)(file, args, { env: { PATH: process.env.PATH, ...env }, timeout: 10_000 })
    return 0
  } catch (error) {
    return (error as { code: number }).code
  }
}

const portOf = (hub: TestHub) => new URL(hub.url).port

test('the image\'s healthcheck asks /health: healthy while the hub serves, unhealthy when nothing answers', async () => {
  assert.match(imageCheck.join(' '), /\/health/)
  const hub = await startHub()
  try {
    assert.equal(await runCheck(imageCheck, { PORT: portOf(hub) }), 0)
  } finally {
    await hub.app.close()
  }
  assert.equal(await runCheck(imageCheck, { PORT: String(await freePort()) }), 1)
})

test('the image\'s healthcheck follows FASTIFY_PREFIX, as the hub does', async () => {
  const hub = await startHub({}, '/push')
  try {
    assert.equal(await runCheck(imageCheck, { PORT: portOf(hub), FASTIFY_PREFIX: '/push' }), 0)
    assert.equal(await runCheck(imageCheck, { PORT: portOf(hub) }), 1)
  } finally {
    await hub.app.close()
  }
})

test('the compose files\' hub healthchecks ask /ready: healthy while the hub can deliver, unhealthy while its store cannot write', async () => {
  assert.deepEqual(composeChecks.map(({ file }) => file), ['deploy/compose.yaml', 'deploy/compose.cluster.yaml'])
  const hub = await startHub({ store: { path: join(tempDir('healthcheck'), 'hub.db') } })
  try {
    for (const { file, command } of composeChecks) {
      assert.match(command.join(' '), /\/ready/, file)
      assert.equal(await runCheck(command, { PORT: portOf(hub) }), 0, file)
    }
    const db = ((hub.app.store as TimedStore).inner as unknown as { db: Database.Database }).db
    db.pragma('query_only = ON')
    // The store probe's last answer is reused for a second.
    const deadline = Date.now() + 5000
    while ((await fetch(`${hub.url}/ready`)).status !== 503 && Date.now() < deadline) await sleep(100)
    for (const { file, command } of composeChecks) assert.equal(await runCheck(command, { PORT: portOf(hub) }), 1, file)
  } finally {
    await hub.app.close()
  }
})
