// When the client library refreshes its token: what it reads of a JWT (exp, without
// verifying it) and how long it waits before asking for a fresh one.
import assert from 'node:assert/strict'
import { test } from 'node:test'
import { refreshDelay, tokenExpiresAt } from '../../client/refresh.js'
import { token } from '../support/fixtures.js'

test('the exp of a JWT, in ms; undefined for a token without exp or that is not a JWT', () => {
  assert.equal(tokenExpiresAt(token({ uid: 'ann', exp: 2_000_000_000 })), 2_000_000_000_000)
  // base64url's - and _ and a payload that needs no padding, one or two "=": all decode.
  for (const uid of ['ü?>', 'ü?>a', 'ü?>ab', 'Jürgen ~~~ ???']) {
    assert.equal(tokenExpiresAt(token({ uid, exp: 1_900_000_000 })), 1_900_000_000_000, uid)
  }
  assert.equal(tokenExpiresAt(token({ uid: 'ann' })), undefined)
  for (const notJwt of ['', 'opaque-session-token', 'a.%%%.c', 'a.bnVsbA.c', `a.${Buffer.from('{"exp":"soon"}').toString('base64url')}.c`]) {
    assert.equal(tokenExpiresAt(notJwt), undefined, notJwt)
  }
})

test('the refresh comes at 80% of the remaining life or 30 s before exp, whichever is sooner, never before half of it', () => {
  const now = 1_000_000
  const s = 1000
  assert.equal(refreshDelay(now + 3600 * s, now), 2880 * s, 'an hour: at 48 minutes')
  assert.equal(refreshDelay(now + 600 * s, now), 480 * s)
  assert.equal(refreshDelay(now + 120 * s, now), 90 * s, 'two minutes: 30 s before')
  assert.equal(refreshDelay(now + 40 * s, now), 20 * s, 'under a minute: at half')
  assert.equal(refreshDelay(now + 2 * s, now), 1 * s)
  assert.equal(refreshDelay(now, now), undefined, 'expired: too late')
  assert.equal(refreshDelay(now - s, now), undefined)
})
