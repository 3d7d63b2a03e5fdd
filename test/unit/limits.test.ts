// The abuse limits' building blocks, without a server: the expiry wheel, the failure
// throttle, and the refusal log's summary.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { ExpiryWheel } from '../../lib/hub/expiry-wheel.js'
import { FailureThrottle } from '../../lib/limits/failure-throttle.js'
import { Refusals } from '../../lib/limits/refusals.js'

test('the expiry wheel ends items in their slot, never early, and forgets cancelled ones', () => {
  let now = 10_000
  const expired: string[] = []
  const wheel = new ExpiryWheel<string>((item) => expired.push(item), 250, () => now)
  const a = wheel.schedule('a', 10_300)
  wheel.schedule('b', 10_900)
  const c = wheel.schedule('c', 10_320)
  wheel.cancel('c', c)
  wheel.stop()
  now = 10_499
  wheel.tick()
  assert.deepEqual(expired, [])
  now = 10_500
  wheel.tick()
  assert.deepEqual(expired, ['a'])
  assert.equal(wheel.cancel('a', a), false)
  now = 11_000
  wheel.tick()
  assert.deepEqual(expired, ['a', 'b'])
  assert.equal(wheel.size, 0)
  // A time already past expires at the next tick.
  wheel.schedule('d', 0)
  now = 11_250
  wheel.tick()
  assert.deepEqual(expired, ['a', 'b', 'd'])
  wheel.stop()
})

test('the failure throttle refuses an address past its budget until its window ends, and no other', () => {
  const throttle = new FailureThrottle({ maxFailures: 3, windowMs: 60_000, maxTracked: 2 })
  assert.equal(throttle.quiet, true)
  for (let i = 0; i < 3; i++) throttle.recordFailure('10.0.0.1', 1000)
  assert.equal(throttle.retryAfterMs('10.0.0.1', 2000), 59_000)
  assert.equal(throttle.retryAfterMs('10.0.0.2', 2000), 0)
  assert.equal(throttle.retryAfterMs('10.0.0.1', 61_000), 0)
  // Memory stays bounded: past maxTracked the oldest window is forgotten.
  throttle.recordFailure('10.0.0.2', 70_000)
  throttle.recordFailure('10.0.0.3', 70_000)
  assert.equal(throttle.tracked, 2)
  assert.equal(new FailureThrottle({ maxFailures: 0, windowMs: 1 }).retryAfterMs('x'), 0)
})

test('refusals past the per-interval budget are summed up in one line, by reason and address', () => {
  const lines: Array<{ fields: Record<string, unknown>; message: string }> = []
  const refusals = new Refusals((fields, message) => lines.push({ fields, message }), { linesPerInterval: 2 })
  for (let i = 0; i < 5; i++) refusals.refuse('origin', '192.0.2.1', 'origin refused')
  refusals.log('bad_signature', '192.0.2.9', 'bad token')
  assert.equal(lines.length, 2)
  assert.deepEqual(lines[0]!.fields, { reason: 'origin', address: '192.0.2.1' })
  refusals.close()
  assert.equal(lines.length, 3)
  assert.deepEqual(lines[2]!.fields, { suppressed: 4, reasons: { origin: 3, bad_signature: 1 }, addresses: { '192.0.2.1': 3, '192.0.2.9': 1 } })
  assert.equal(refusals.counts.origin, 5)
  assert.equal(refusals.counts.rate, 0)
})
