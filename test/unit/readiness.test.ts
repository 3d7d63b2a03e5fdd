// The readiness checks and the store probe's cache, with stand-ins for the hub, the bus
// and the store: which checks apply to which node, what each failure says, how often
// the store is really written, and that a probe that hangs counts as a failure.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import type { Bus } from '../../lib/bus/bus.js'
import { cachedProbe } from '../../lib/health/cached-probe.js'
import { failures, Readiness, type ReadinessReport } from '../../lib/health/readiness.js'

const oneNode = { clustered: false } as Bus
const clusterBus = (link: { redisUp: boolean; subscriberUp: boolean }) => ({
  clustered: true,
  nodeId: 'n1',
  get redisUp() { return link.redisUp },
  get subscriberUp() { return link.subscriberUp },
}) as unknown as Bus

test('one node without a store: ready unless shutting down, and only the shutdown check applies', async () => {
  const hub = { isClosing: false }
  const readiness = new Readiness({ hub, bus: oneNode })
  assert.deepEqual(await readiness.check(), { ready: true, checks: { shutdown: { ok: true } } })
  hub.isClosing = true
  const report = await readiness.check()
  assert.equal(report.ready, false)
  assert.match(report.checks.shutdown!.reason!, /shutting down/)
})

test('cluster mode: the Redis link and the relay subscription are checks of their own, each with its reason', async () => {
  const link = { redisUp: true, subscriberUp: true }
  const readiness = new Readiness({ hub: { isClosing: false }, bus: clusterBus(link) })
  assert.deepEqual(await readiness.check(), { ready: true, checks: { shutdown: { ok: true }, redis: { ok: true }, relay: { ok: true } } })

  // The failure that looks alive: the command link works, the relay subscription is gone.
  link.subscriberUp = false
  const deaf = await readiness.check()
  assert.equal(deaf.ready, false)
  assert.deepEqual(deaf.checks.redis, { ok: true })
  assert.match(deaf.checks.relay!.reason!, /not subscribed to its relay channel.*node n1/)
  assert.match(failures(deaf), /^relay: /)

  link.redisUp = false
  const cut = await readiness.check()
  assert.match(cut.checks.redis!.reason!, /command connection to Redis is down/)
  assert.match(failures(cut), /^redis: .*; relay: /)
})

test('a store that cannot write fails the store check with its error; one that writes passes', async () => {
  let error: Error | undefined
  const store = { checkWritable: async () => { if (error) throw error } }
  const readiness = new Readiness({ hub: { isClosing: false }, bus: oneNode, store, storeProbeTtlMs: 0 })
  assert.deepEqual((await readiness.check()).checks.store, { ok: true })
  error = new Error('attempt to write a readonly database')
  const report = await readiness.check()
  assert.equal(report.ready, false)
  assert.match(report.checks.store!.reason!, /cannot write \(attempt to write a readonly database\): durable sends answer 503/)
})

test('onChange reports each turn between ready and not ready once, a node that starts unready included', async () => {
  const hub = { isClosing: true }
  const changes: ReadinessReport[] = []
  const readiness = new Readiness({ hub, bus: oneNode })
  readiness.onChange = (report) => changes.push(report)
  await readiness.check()
  await readiness.check()
  hub.isClosing = false
  await readiness.check()
  await readiness.check()
  assert.deepEqual(changes.map((report) => report.ready), [false, true])
})

test('the probe runs at most once per ttl, however often it is asked, and concurrent asks share one run', async () => {
  let clock = 0
  let runs = 0
  const probe = cachedProbe(async () => { runs++ }, { ttlMs: 1000, timeoutMs: 1000, now: () => clock })
  const answers = await Promise.all([probe(), probe(), probe()])
  assert.deepEqual(answers, [{ ok: true }, { ok: true }, { ok: true }])
  assert.equal(runs, 1)
  clock = 999
  await probe()
  assert.equal(runs, 1)
  clock = 1000
  await probe()
  assert.equal(runs, 2)
})

test('a failed probe is cached like a good one, and the next run after the ttl can pass again', async () => {
  let clock = 0
  let broken = true
  const probe = cachedProbe(async () => { if (broken) throw new Error('disk full') }, { ttlMs: 1000, timeoutMs: 1000, now: () => clock })
  assert.deepEqual(await probe(), { ok: false, reason: 'disk full' })
  broken = false
  assert.deepEqual(await probe(), { ok: false, reason: 'disk full' })
  clock = 1000
  assert.deepEqual(await probe(), { ok: true })
})

test('a probe that never answers fails after the timeout instead of holding readiness', async () => {
  const probe = cachedProbe(() => new Promise<void>(() => {}), { ttlMs: 1000, timeoutMs: 20 })
  assert.deepEqual(await probe(), { ok: false, reason: 'no answer within 20 ms' })
})
