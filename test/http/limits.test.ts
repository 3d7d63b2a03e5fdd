// The default limits that keep hostile or broken clients from costing anyone but
// themselves, each tried as an attacker would: raw sockets that send nothing or stop
// half-way, too many connections, frame floods, bad credentials in a loop, a page on
// another site. Every refusal is counted in pusher_refused_total.
import assert from 'node:assert/strict'
import { once } from 'node:events'
import { connect as tcpConnect, type Socket } from 'node:net'
import { after, before, describe, test } from 'node:test'
import { Writable } from 'node:stream'
import Fastify from 'fastify'
import WebSocket from 'ws'
import pusher from '../../app.js'
import { descriptorLimit } from '../../lib/limits/descriptors.js'
import { API_KEY, connect, connectAs, metrics, post, refusedUpgrade, SECRET, startHub, token, type TestHub } from '../support/helpers.js'

/** Opens a raw TCP socket to the hub from `localAddress`, writes `payload`, and resolves with what the hub answered once it closed the socket. */
async function rawExchange(hub: TestHub, payload: string, localAddress = '127.0.0.1'): Promise<{ answer: string; elapsedMs: number }> {
  const socket = tcpConnect({ port: Number(new URL(hub.url).port), host: '127.0.0.1', localAddress })
  await once(socket, 'connect')
  const started = performance.now()
  let answer = ''
  socket.on('data', (chunk: Buffer) => { answer += chunk })
  socket.write(payload)
  await once(socket, 'close')
  return { answer, elapsedMs: performance.now() - started }
}

const refused = async (hub: TestHub, reason: string) => (await metrics(hub)).get(`pusher_refused_total{reason="${reason}"}`)

describe('request timeouts', () => {
  let hub: TestHub
  before(async () => {
    hub = await startHub({ headersTimeoutMs: 300, bodyTimeoutMs: 300 })
  })
  after(() => hub.app.close())

  test('a socket that sends nothing gets a 408 and is closed after the head timeout', async () => {
    const { answer, elapsedMs } = await rawExchange(hub, '')
    assert.match(answer, /^HTTP\/1\.1 408 Request Timeout/)
    assert.match(answer, /PUSHER_ERR_REQUEST_TIMEOUT/)
    assert.ok(elapsedMs >= 300, `closed after ${elapsedMs} ms, before the timeout`)
  })

  test('an unfinished request head gets a 408 and is closed', async () => {
    const { answer } = await rawExchange(hub, 'GET /metrics HTTP/1.1\r\nHost: hub\r\n')
    assert.match(answer, /^HTTP\/1\.1 408/)
  })

  test('a body that stops arriving gets a 408 and is closed, authenticated or not', async () => {
    for (const authorization of [`Authorization: Bearer ${API_KEY}\r\n`, '']) {
      const head = `POST /send HTTP/1.1\r\nHost: hub\r\n${authorization}Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n`
      const { answer, elapsedMs } = await rawExchange(hub, `${head}{"ui`)
      // Unauthenticated, the hub answers 401 at once rather than wait for the body.
      if (authorization === '') assert.match(answer, /^HTTP\/1\.1 401/)
      else {
        assert.match(answer, /^HTTP\/1\.1 408/)
        assert.ok(elapsedMs >= 300, `closed after ${elapsedMs} ms`)
      }
    }
    // The fourth: the unauthenticated request's connection, answered 401 at once, still
    // owed the rest of its body, and was closed once that did not come either.
    assert.equal(await refused(hub, 'timeout'), 4)
  })

  test('a client that keeps its promises is served, over a keep-alive connection', async () => {
    for (let i = 0; i < 3; i++) assert.equal((await fetch(`${hub.url}/metrics`)).status, 200)
    assert.equal((await post(hub, '/send', { uid: 'nobody', message: 'x' })).status, 404)
  })
})

describe('connection caps', () => {
  let hub: TestHub
  before(async () => {
    hub = await startHub({ maxConnections: 4, maxConnectionsPerUser: 2 })
  })
  after(() => hub.app.close())

  test('the per-user cap refuses one connection too many with 429 before the upgrade; other users are served', async () => {
    const tabs = [await connectAs(hub, 'capped'), await connectAs(hub, 'capped')]
    const third = await refusedUpgrade(`${hub.wsUrl}/ws?token=${token({ uid: 'capped' })}`)
    assert.equal(third.status, 429)
    assert.equal(third.body.code, 'PUSHER_ERR_TOO_MANY_CONNECTIONS')
    const other = await connectAs(hub, 'someone-else')
    // Closing a tab makes room again.
    const gone = once(hub.app.hub, 'disconnect')
    await tabs[0]!.close()
    await gone
    tabs[0] = await connectAs(hub, 'capped')
    assert.equal(await refused(hub, 'user_cap'), 1)
    await Promise.all([...tabs, other].map((client) => client.close()))
  })

  test('at PUSHER_MAX_CONNECTIONS new upgrades get 503 before the upgrade, while senders are served', async () => {
    const clients = await Promise.all(['a', 'b', 'c', 'd'].map((uid) => connectAs(hub, uid)))
    const fifth = await refusedUpgrade(`${hub.wsUrl}/ws?token=${token({ uid: 'e' })}`)
    assert.equal(fifth.status, 503)
    assert.equal(fifth.body.code, 'PUSHER_ERR_HUB_FULL')
    assert.equal((await post(hub, '/send', { uid: 'a', message: 'still sending' })).status, 200)
    assert.deepEqual(await clients[0]!.received(1), ['still sending'])
    assert.equal(await refused(hub, 'connection_cap'), 1)
    await Promise.all(clients.map((client) => client.close()))
  })
})

describe('inbound frame flood', () => {
  let hub: TestHub
  before(async () => {
    // 20 frames a second, bursts of 200.
    hub = await startHub({ maxInboundFramesPerSecond: 20 })
  })
  after(() => hub.app.close())

  test('a client that floods frames is closed with 1008; a client at a normal pace stays', async () => {
    const calm = await connectAs(hub, 'calm')
    const flooder = await connectAs(hub, 'flooder')
    const closed = flooder.closed()
    // Well past the burst, as fast as the socket takes them.
    for (let i = 0; i < 1000 && flooder.ws.readyState === WebSocket.OPEN; i++) flooder.ws.send('spam')
    const { code, reason } = await closed
    assert.equal(code, 1008)
    assert.match(reason, /too many frames/)
    for (let i = 0; i < 5; i++) calm.ws.send('hello')
    assert.equal((await post(hub, '/send', { uid: 'calm', message: 'still here' })).status, 200)
    assert.deepEqual(await calm.received(1), ['still here'])
    const series = await metrics(hub)
    assert.equal(series.get('pusher_refused_total{reason="frame_flood"}'), 1)
    assert.equal(series.get('pusher_disconnects_total{reason="frame_flood"}'), 1)
    await calm.close()
  })

  test('pings count as frames, even one at a time', async () => {
    // ws itself terminates a client with 60 pongs unwritten; one that waits for each pong
    // stays under that, and only the frame limit stops it.
    const pinger = await connectAs(hub, 'pinger')
    const closed = pinger.closed()
    for (let i = 0; i < 1000 && pinger.ws.readyState === WebSocket.OPEN; i++) {
      const pong = new Promise<void>((resolve) => {
        const done = () => {
          pinger.ws.off('pong', done).off('close', done)
          resolve()
        }
        pinger.ws.on('pong', done).on('close', done)
      })
      pinger.ws.ping()
      await pong
    }
    assert.equal((await closed).code, 1008)
  })
})

describe('throttled refusals', () => {
  let hub: TestHub
  before(async () => {
    hub = await startHub({ maxAuthFailuresPerMinute: 5 })
  })
  after(() => hub.app.close())

  test('an address that keeps failing gets 429 before any verification; other addresses are unaffected', async () => {
    const attacker = '127.0.0.3'
    const bad = token({ uid: 'victim' }, { key: 'not-the-secret-not-the-secret-not-the-secret' })
    for (let i = 0; i < 5; i++) {
      assert.equal((await refusedUpgrade(`${hub.wsUrl}/ws?token=${bad}`, [], {}, attacker)).status, 401)
    }
    // Now even a valid token from that address is turned away, and so is a sender.
    const throttled = await refusedUpgrade(`${hub.wsUrl}/ws?token=${token({ uid: 'victim' })}`, [], {}, attacker)
    assert.equal(throttled.status, 429)
    assert.equal(throttled.body.code, 'PUSHER_ERR_TOO_MANY_FAILURES')
    const body = '{"uid":"victim","message":"x"}'
    const sender = await rawExchange(hub, `POST /send HTTP/1.1\r\nHost: hub\r\nConnection: close\r\nAuthorization: Bearer ${API_KEY}\r\n` +
      `Content-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`, attacker)
    assert.match(sender.answer, /^HTTP\/1\.1 429/)
    assert.match(sender.answer, /retry-after: \d+/i)

    // 127.0.0.1 connects, sends, and is refused only for its own bad key (401, not 429).
    const good = await connectAs(hub, 'victim')
    assert.equal((await post(hub, '/send', { uid: 'victim', message: 'hi' })).status, 200)
    assert.deepEqual(await good.received(1), ['hi'])
    assert.equal((await post(hub, '/send', { uid: 'victim', message: 'x' }, { authorization: 'Bearer wrong-key-wrong-key' })).status, 401)
    assert.equal(await refused(hub, 'rate'), 2)
    await good.close()
  })

  test('the bearer scheme is case-insensitive for API keys', async () => {
    for (const scheme of ['bearer', 'BEARER', 'Bearer']) {
      const answer = await post(hub, '/send', { uid: 'nobody', message: 'x' }, { authorization: `${scheme} ${API_KEY}` })
      assert.equal(answer.status, 404, `${scheme}: ${JSON.stringify(answer.body)}`)
    }
  })
})

describe('send rate per API key (off by default)', () => {
  const SECOND_KEY = 'a-second-api-key-0123456789'
  let hub: TestHub
  before(async () => {
    hub = await startHub({ apiKeys: [API_KEY, SECOND_KEY], sendRateLimit: 3 })
  })
  after(() => hub.app.close())

  test('a key past its rate gets 429; another key is not affected', async () => {
    const statuses = []
    for (let i = 0; i < 6; i++) statuses.push((await post(hub, '/send', { uid: 'nobody', message: 'x' })).status)
    // Within the same second: the first three are served (404: nobody is connected), the rest refused.
    assert.deepEqual(statuses.slice(0, 3), [404, 404, 404])
    const refusedAnswer = await post(hub, '/send', { uid: 'nobody', message: 'x' })
    assert.equal(refusedAnswer.status, 429)
    assert.equal(refusedAnswer.body.code, 'PUSHER_ERR_SEND_RATE_LIMITED')
    assert.match(refusedAnswer.body.message, /API key #1/)
    assert.equal((await post(hub, '/send', { uid: 'nobody', message: 'x' }, { authorization: `Bearer ${SECOND_KEY}` })).status, 404)
    assert.ok((await refused(hub, 'send_rate'))! >= 1)
  })

  test('the topic routes have the same rate per key, counted apart from the sender routes', async () => {
    const THIRD_KEY = 'a-third-api-key-0123456789'
    const limited = await startHub({ apiKeys: [API_KEY, THIRD_KEY], sendRateLimit: 2 })
    try {
      const publish = (key = API_KEY) => post(limited, '/publish', { topic: 'news', message: 'x' }, { authorization: `Bearer ${key}` })
      assert.equal((await post(limited, '/send', { uid: 'nobody', message: 'x' })).status, 404)
      const statuses = [(await publish()).status, (await publish()).status]
      assert.deepEqual(statuses, [200, 200], 'a send does not use up the publishes')
      const refusedAnswer = await publish()
      assert.equal(refusedAnswer.status, 429)
      assert.equal(refusedAnswer.body.code, 'PUSHER_ERR_SEND_RATE_LIMITED')
      assert.equal((await publish(THIRD_KEY)).status, 200)
    } finally {
      await limited.app.close()
    }
  })
})

describe('origin allowlist', () => {
  let hub: TestHub
  before(async () => {
    hub = await startHub({ allowedOrigins: 'https://app.example.com, http://localhost:8080' })
  })
  after(() => hub.app.close())

  test('an upgrade from an origin not on the list, null included, gets 403 before the upgrade', async () => {
    const url = `${hub.wsUrl}/ws?token=${token({ uid: 'o' })}`
    for (const origin of ['https://evil.example.com', 'null', 'https://app.example.com.evil.example', 'http://app.example.com']) {
      const answer = await refusedUpgrade(url, [], { origin })
      assert.equal(answer.status, 403, origin)
      assert.equal(answer.body.code, 'PUSHER_ERR_ORIGIN_FORBIDDEN')
    }
    // Listed origins pass, and so do clients that send no Origin (not browsers).
    for (const origin of ['https://app.example.com', 'http://localhost:8080']) {
      await (await connect(hub, { token: token({ uid: 'o' }), headers: { origin } })).close()
    }
    await (await connect(hub, { token: token({ uid: 'o' }) })).close()
    assert.equal(await refused(hub, 'origin'), 4)
  })
})

test('a token whose uid is not well-formed Unicode is refused with 401 invalid_uid', async () => {
  const hub = await startHub()
  try {
    const answer = await refusedUpgrade(`${hub.wsUrl}/ws?token=${token({ uid: 'v\ud800' })}`)
    assert.equal(answer.status, 401)
    assert.match(answer.body.message, /invalid_uid/)
    assert.equal((await metrics(hub)).get('pusher_auth_failures_total{reason="invalid_uid"}'), 1)
  } finally {
    await hub.app.close()
  }
})

test('a PUSHER_MAX_CONNECTIONS that leaves no descriptors for senders is warned about at start', { skip: descriptorLimit() === undefined && 'no descriptor limit to read here' }, async () => {
  const warnings: string[] = []
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      for (const line of chunk.toString().split('\n')) if (line.includes('"level":40')) warnings.push(JSON.parse(line).msg)
      done()
    },
  })
  for (const maxConnections of [descriptorLimit()!, 100]) {
    const app = Fastify({ logger: { level: 'warn', stream } })
    await app.register(pusher, { jwt: { secret: SECRET }, apiKeys: [API_KEY], env: {}, maxConnections })
    await app.ready()
    await app.close()
  }
  const about = warnings.filter((message) => message.includes('PUSHER_MAX_CONNECTIONS'))
  assert.equal(about.length, 1, warnings.join('\n'))
  assert.match(about[0]!, new RegExp(`PUSHER_MAX_CONNECTIONS \\(${descriptorLimit()}\\) leaves less than 32 of the ${descriptorLimit()} descriptors`))
  assert.match(about[0]!, /Raise ulimit -n or lower PUSHER_MAX_CONNECTIONS/)
})

