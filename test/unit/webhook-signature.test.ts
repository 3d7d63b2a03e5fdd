// The webhook signature as docs/webhooks.md describes it: HMAC-SHA256 over
// `${timestamp}.${body}`, hex, as "v1=<hex>"; and verifyWebhook, which receivers use.
import assert from 'node:assert/strict'
import { createHmac } from 'node:crypto'
import { test } from 'node:test'
import { signWebhook, verifyWebhook, WEBHOOK_HEADERS } from '../../app.js'

const secret = 'whsec-0123456789abcdef0123456789abcdef'
const body = '{"id":"8c1f0d0e-0000-4000-8000-000000000000","type":"user.online","uid":"ann","time":1800000000000}'
const now = 1_800_000_000_000
const timestamp = now / 1000

const headersFor = (signature: string, at = timestamp): Record<string, string> => ({
  [WEBHOOK_HEADERS.id]: '8c1f0d0e-0000-4000-8000-000000000000',
  [WEBHOOK_HEADERS.timestamp]: String(at),
  [WEBHOOK_HEADERS.signature]: signature,
})

test('the signature is HMAC-SHA256 of "timestamp.body" with the secret, in hex after "v1="', () => {
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')
  assert.equal(signWebhook(secret, timestamp, body), `v1=${expected}`)
  assert.equal(signWebhook(secret, timestamp, Buffer.from(body)), `v1=${expected}`, 'the same over the raw bytes')
})

test('verifyWebhook accepts a signed request, from Node headers in any case or a fetch Headers object', () => {
  const headers = headersFor(signWebhook(secret, timestamp, body))
  assert.equal(verifyWebhook({ body, headers, secret, now }), true)
  assert.equal(verifyWebhook({ body: Buffer.from(body), headers, secret, now }), true)
  const shouting = Object.fromEntries(Object.entries(headers).map(([name, value]) => [name.toUpperCase(), value]))
  assert.equal(verifyWebhook({ body, headers: shouting, secret, now }), true)
  assert.equal(verifyWebhook({ body, headers: new Headers(headers), secret, now }), true)
})

test('verifyWebhook refuses a changed body, another secret, a missing or malformed header', () => {
  const signature = signWebhook(secret, timestamp, body)
  assert.equal(verifyWebhook({ body: body.replace('ann', 'bob'), headers: headersFor(signature), secret, now }), false)
  assert.equal(verifyWebhook({ body, headers: headersFor(signature), secret: 'another-secret-another-secret-000', now }), false)
  assert.equal(verifyWebhook({ body, headers: headersFor(signature), secret: '', now }), false)
  const { [WEBHOOK_HEADERS.signature]: _, ...unsigned } = headersFor(signature)
  assert.equal(verifyWebhook({ body, headers: unsigned, secret, now }), false)
  assert.equal(verifyWebhook({ body, headers: headersFor(signature.slice(3)), secret, now }), false, 'without the scheme')
  assert.equal(verifyWebhook({ body, headers: headersFor('v1=zz'), secret, now }), false)
  assert.equal(verifyWebhook({ body, headers: { ...headersFor(signature), [WEBHOOK_HEADERS.timestamp]: '17e8' }, secret, now }), false)
})

test('verifyWebhook refuses a timestamp outside the tolerance either way: a replayed request is stale', () => {
  const old = timestamp - 301
  assert.equal(verifyWebhook({ body, headers: headersFor(signWebhook(secret, old, body), old), secret, now }), false)
  const future = timestamp + 301
  assert.equal(verifyWebhook({ body, headers: headersFor(signWebhook(secret, future, body), future), secret, now }), false)
  const edge = timestamp - 300
  assert.equal(verifyWebhook({ body, headers: headersFor(signWebhook(secret, edge, body), edge), secret, now }), true)
  assert.equal(verifyWebhook({ body, headers: headersFor(signWebhook(secret, old, body), old), secret, now, toleranceSeconds: 600 }), true)
  // Re-signing with a fresh timestamp needs the secret: moving the timestamp alone breaks the signature.
  assert.equal(verifyWebhook({ body, headers: headersFor(signWebhook(secret, old, body), timestamp), secret, now }), false)
})

test('during a secret rotation either secret verifies, and any of several offered signatures may match', () => {
  const next = 'whsec-next-0123456789abcdef0123456789'
  const signature = signWebhook(next, timestamp, body)
  assert.equal(verifyWebhook({ body, headers: headersFor(signature), secret: [secret, next], now }), true)
  const both = `${signWebhook('unknown-secret-unknown-secret-0000', timestamp, body)} ${signature}`
  assert.equal(verifyWebhook({ body, headers: headersFor(both), secret: next, now }), true)
})
