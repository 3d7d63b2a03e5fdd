// One rule per field, whatever carries it. A ttl is read by one parser (lib/ttl.ts) for
// a JSON number, a JSON string, a form field, a query field, a batch item and a batch:
// the same value gets the same answer everywhere. A uid must be well-formed Unicode
// (lib/uid.ts): a lone surrogate, which UTF-8 stores as U+FFFD, is refused before
// anything is sent or stored.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { API_KEY, connectAs, messageState, post, startHub, type TestHub } from '../support/helpers.js'

let hub: TestHub
before(async () => {
  // A store, so that ttl sends are accepted (202) rather than refused for want of one.
  hub = await startHub({ store: { path: ':memory:' } })
})
after(() => hub.app.close())

type Answer = { status: number; body: any }

/** POSTs `text` as it is, as a JSON body: escapes such as \ud800 reach the server untouched. */
const postJson = (path: string, text: string): Promise<Answer> => post(hub, path, text, { 'content-type': 'application/json' })

async function get(path: string): Promise<Answer> {
  const response = await fetch(`${hub.url}${path}`, { headers: { authorization: `Bearer ${API_KEY}` } })
  return { status: response.status, body: await response.json() }
}

const stored = () => hub.app.store!.stats.stored

/** How long the hub keeps a message, in seconds, from its own record. */
async function keptFor(id: string): Promise<number> {
  const { body } = await messageState(hub, id)
  return (Date.parse(body.expiresAt) - Date.parse(body.createdAt)) / 1000
}

// A ttl as JSON value text and, for a string, as the text of a form or query field
// (which have no types: their every field is a string).
type Spelling = { json: string; field?: string }
const number = (text: string): Spelling => ({ json: text })
const string = (text: string): Spelling => ({ json: JSON.stringify(text), field: text })

/** Every way a single send carries a ttl, to the offline user `uid`. */
function singleShapes(uid: string, ttl: Spelling): Array<[string, () => Promise<Answer>]> {
  const shapes: Array<[string, () => Promise<Answer>]> = [
    ['POST /send JSON', () => postJson('/send', `{"uid":"${uid}","message":"m","ttl":${ttl.json}}`)],
  ]
  if (ttl.field !== undefined) {
    const field = encodeURIComponent(ttl.field)
    shapes.push(
      ['POST /send form', () => post(hub, '/send', `uid=${uid}&message=m&ttl=${field}`)],
      ['POST /send query', () => post(hub, `/send?uid=${uid}&message=m&ttl=${field}`)],
      ['POST /send form, ttl in the query', () => post(hub, `/send?ttl=${field}`, `uid=${uid}&message=m`)],
      ['GET /send', () => get(`/send?uid=${uid}&message=m&ttl=${field}`)],
    )
  }
  return shapes
}

describe('ttl: one parser for every spelling', () => {
  const accepted: Array<[Spelling, number]> = [
    [number('1'), 1], [string('1'), 1],
    [number('2592000'), 2_592_000], [string('2592000'), 2_592_000],
    [number('60'), 60], [string('60'), 60],
    // Leading zeros are decimal, never octal, wherever the string comes from.
    [string('007'), 7], [string('0000000000000000000000000060'), 60],
    // A JSON number is read by value, as JSON.parse reads it.
    [number('1e3'), 1000], [number('60.0'), 60],
  ]
  for (const [ttl, seconds] of accepted) {
    for (const [shape, send] of singleShapes('offline-ttl', ttl)) {
      test(`${shape} with ttl ${ttl.json}: stored for ${seconds} s`, async () => {
        const response = await send()
        assert.equal(response.status, 202, JSON.stringify(response.body))
        assert.equal(response.body.status, 'queued')
        assert.equal(await keptFor(response.body.id), seconds)
      })
    }
    test(`batch item and batch with ttl ${ttl.json}: stored for ${seconds} s`, async () => {
      const item = await postJson('/send/batch', `{"messages":[{"uid":"offline-ttl","message":"m","ttl":${ttl.json}}]}`)
      const batch = await postJson('/send/batch', `{"ttl":${ttl.json},"messages":[{"uid":"offline-ttl","message":"m"}]}`)
      for (const response of [item, batch]) {
        assert.equal(response.status, 200, JSON.stringify(response.body))
        assert.equal(response.body.results[0].status, 'queued')
        assert.equal(await keptFor(response.body.results[0].id), seconds)
      }
    })
  }

  const refused: Spelling[] = [
    number('2592001'), string('2592001'), string('9999999'), number('9999999'),
    number('0'), string('0'), string('000'), number('-1'), string('-1'),
    number('1.5'), string('1.5'), string('60.0'), string('1e3'), number('1e300'),
    string(''), string(' 7'), string('7 '), string('+7'), string('0x10'), string('soon'), string('٣'),
  ]
  const message = 'must be a whole number of seconds from 1 to 2592000 (30 days), as a JSON number or a string of digits; nothing was sent'
  for (const ttl of refused) {
    test(`ttl ${ttl.json} is refused the same way in every shape, and nothing is stored`, async () => {
      const before = stored()
      const answers: Array<[string, Answer]> = []
      for (const [shape, send] of singleShapes('offline-ttl', ttl)) answers.push([shape, await send()])
      answers.push(['batch', await postJson('/send/batch', `{"ttl":${ttl.json},"messages":[{"uid":"offline-ttl","message":"m"}]}`)])
      // The batch's own ttl is checked even when every message has its own.
      answers.push(['batch, items with their own ttl', await postJson('/send/batch', `{"ttl":${ttl.json},"messages":[{"uid":"offline-ttl","message":"m","ttl":60}]}`)])
      const expected = { statusCode: 400, code: 'PUSHER_ERR_INVALID_TTL', error: 'Bad Request', message: `ttl ${message}` }
      for (const [shape, answer] of answers) {
        assert.equal(answer.status, 400, shape)
        assert.deepEqual(answer.body, expected, shape)
      }
      const item = await postJson('/send/batch', `{"messages":[{"uid":"a","message":"m"},{"uid":"offline-ttl","message":"m","ttl":${ttl.json}}]}`)
      assert.equal(item.status, 400)
      assert.deepEqual(item.body, { ...expected, message: `messages[1].ttl ${message}` })
      assert.equal(stored(), before)
    })
  }

  test('a ttl that is neither a number nor a string is a schema error, still a 400', async () => {
    for (const value of ['true', 'null', '[60]', '{"s":60}']) {
      const response = await postJson('/send', `{"uid":"offline-ttl","message":"m","ttl":${value}}`)
      assert.equal(response.status, 400, value)
      assert.match(response.body.message, /ttl/)
    }
  })

  test('durable=true still takes the store\'s default ttl', async () => {
    const response = await post(hub, '/send', 'uid=offline-ttl&message=m&durable=true')
    assert.equal(response.status, 202)
    assert.equal(await keptFor(response.body.id), 86_400)
  })
})

describe('uid: well-formed Unicode only', () => {
  const LONE = 'PUSHER_ERR_INVALID_UID'
  const wellFormed = /uid must be well-formed Unicode \(it holds a lone surrogate\)/

  test('a lone surrogate is refused on every send route, and its look-alike user gets nothing', async () => {
    // UTF-8 writes "v\ud800" as the bytes of "v\ufffd": this is the user it must not reach.
    const lookalike = await connectAs(hub, 'v\ufffd')
    const before = stored()
    const cases: Array<[string, Promise<Answer>, RegExp]> = [
      ['/send', postJson('/send', '{"uid":"v\\ud800","message":"not for you"}'), /^uid must/],
      ['/send, a low surrogate', postJson('/send', '{"uid":"v\\udc00","message":"not for you"}'), /^uid must/],
      ['/send, a reversed pair', postJson('/send', '{"uid":"v\\ude00\\ud83d","message":"not for you"}'), /^uid must/],
      ['/send durable', postJson('/send', '{"uid":"v\\ud800","message":"not for you","ttl":60}'), /^uid must/],
      ['/send durable=true', postJson('/send', '{"uid":"v\\ud800","message":"not for you","durable":true}'), /^uid must/],
      ['/send/batch', postJson('/send/batch', '{"messages":[{"uid":"v\\ufffd","message":"not even this"},{"uid":"v\\ud800","message":"not for you"}]}'), /^messages\[1\]\.uid must/],
      ['/send/batch durable', postJson('/send/batch', '{"ttl":60,"messages":[{"uid":"v\\ufffd","message":"not even this"},{"uid":"v\\ud800","message":"x"}]}'), /^messages\[1\]\.uid must/],
    ]
    for (const [what, pending, where] of cases) {
      const response = await pending
      assert.equal(response.status, 400, what)
      assert.equal(response.body.code, LONE, what)
      assert.match(response.body.message, wellFormed, what)
      assert.match(response.body.message, where, what)
    }
    // Refused whole: not even a batch's valid messages were sent, nothing was stored.
    assert.equal(stored(), before)
    assert.equal((await post(hub, '/send', { uid: 'v\ufffd', message: 'marker' })).status, 200)
    assert.deepEqual(await lookalike.received(1), ['marker'])
    await lookalike.close()
  })

  test('a query or form cannot carry a lone surrogate: undecodable percent-escapes arrive as text and reach that text\'s user only', async () => {
    // %ED%A0%80 would be the UTF-8 of U+D800, which does not exist: the query parser
    // keeps the nine characters as they are (well-formed), it does not make U+FFFD.
    const lookalike = await connectAs(hub, 'v\ufffd')
    const literal = await connectAs(hub, 'v%ED%A0%80')
    const viaGet = await get('/send?uid=v%ED%A0%80&message=by%20get')
    assert.equal(viaGet.status, 200, JSON.stringify(viaGet.body))
    const viaForm = await post(hub, '/send', 'uid=v%ED%A0%80&message=by%20form')
    assert.equal(viaForm.status, 200, JSON.stringify(viaForm.body))
    assert.deepEqual(await literal.received(2), ['by get', 'by form'])
    assert.equal((await post(hub, '/send', { uid: 'v\ufffd', message: 'marker' })).status, 200)
    assert.deepEqual(await lookalike.received(1), ['marker'])
    await Promise.all([lookalike.close(), literal.close()])
  })

  test('raw invalid UTF-8 in a JSON body is decoded to U+FFFD per byte: another, well-formed uid', async () => {
    const lookalike = await connectAs(hub, 'v\ufffd')
    const body = Buffer.concat([Buffer.from('{"uid":"v'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('","message":"x"}')])
    const response = await fetch(`${hub.url}/send`, {
      method: 'POST', body, headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
    })
    // Nobody is "v\ufffd\ufffd\ufffd": offline, and "v\ufffd" got nothing.
    assert.equal(response.status, 404)
    assert.equal(((await response.json()) as { code: string }).code, 'PUSHER_ERR_USER_OFFLINE')
    assert.equal((await post(hub, '/send', { uid: 'v\ufffd', message: 'marker' })).status, 200)
    assert.deepEqual(await lookalike.received(1), ['marker'])
    await lookalike.close()
  })

  test('a well-formed uid outside the BMP works end to end: JSON, form, GET, batch, and durable replay', async () => {
    const uid = 'u\u{1F600}'
    const client = await connectAs(hub, uid)
    assert.equal((await postJson('/send', '{"uid":"u\\ud83d\\ude00","message":"escaped pair"}')).status, 200)
    assert.equal((await post(hub, '/send', { uid, message: 'json' })).status, 200)
    assert.equal((await post(hub, '/send', `uid=${encodeURIComponent(uid)}&message=form`)).status, 200)
    assert.equal((await get(`/send?uid=${encodeURIComponent(uid)}&message=get`)).status, 200)
    const batch = await post(hub, '/send/batch', { messages: [{ uid, message: 'batch' }] })
    assert.deepEqual(batch.body, { delivered: 1, offline: 0, results: [{ uid, delivered: 1 }] })
    assert.deepEqual(await client.received(5), ['escaped pair', 'json', 'form', 'get', 'batch'])
    await client.close()

    const queued = await post(hub, '/send', { uid, message: 'kept', ttl: 60 })
    assert.equal(queued.status, 202)
    assert.equal((await messageState(hub, queued.body.id)).body.uid, uid)
    const again = await connectAs(hub, uid)
    assert.deepEqual(await again.received(1), ['kept'])
    await again.close()
  })

  test('maxUidLength counts UTF-16 code units, as the token check does', async () => {
    // 128 emoji are 256 code units (the default maxUidLength): valid, and offline.
    const fits = await post(hub, '/send', { uid: '\u{1F600}'.repeat(128), message: 'x' })
    assert.equal(fits.status, 404)
    assert.equal(fits.body.code, 'PUSHER_ERR_USER_OFFLINE')
    for (const uid of ['\u{1F600}'.repeat(129), 'u'.repeat(257)]) {
      const response = await post(hub, '/send', { uid, message: 'x' })
      assert.equal(response.status, 400)
      assert.equal(response.body.code, LONE)
      assert.match(response.body.message, /uid must be at most 256 characters \(UTF-16 code units\), not 25[78]/)
    }
    const empty = await post(hub, '/send', { uid: '', message: 'x' })
    assert.equal(empty.body.code, LONE)
    assert.match(empty.body.message, /uid must not be empty/)
  })

  test('a POST /send query uid is held to the rule even when a form body overrides it', async () => {
    const response = await post(hub, `/send?uid=${encodeURIComponent('u'.repeat(300))}`, 'uid=someone&message=x')
    assert.equal(response.status, 400)
    assert.equal(response.body.code, LONE)
  })

  test('the store refuses a lone surrogate on its own, without failing other appends of the same turn', async () => {
    const store = hub.app.store!
    const refused = store.append([{ uid: 'fine', data: 'a', ttlMs: 60_000 }, { uid: 'v\ud800', data: 'b', ttlMs: 60_000 }])
    const alongside = store.append([{ uid: 'fine', data: 'c', ttlMs: 60_000 }])
    await assert.rejects(refused, { code: LONE, statusCode: 400, message: /^messages\[1\]\.uid must be well-formed Unicode/ })
    const [kept] = await alongside
    assert.equal(kept!.uid, 'fine')
    assert.equal((await store.open('fine', 0, 10)).map((m) => m.data).join(), 'c')
  })
})
