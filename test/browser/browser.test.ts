// The client library in a real browser: client/ bundled by esbuild for the page, run in
// Debian's Chromium through playwright-core (which downloads no browser), against the
// real hub. The page gets its token from the test through an exposed function, the way
// an app's token refresh hook would call its backend.
import assert from 'node:assert/strict'
import { existsSync } from 'node:fs'
import { createServer, request, type Server } from 'node:http'
import { join } from 'node:path'
import { after, test } from 'node:test'
import { build } from 'esbuild'
import { chromium, type Browser, type Page } from 'playwright-core'
import { WebSocketServer } from 'ws'
import type { PusherClient } from '../../client/index.js'
import { API_KEY, startHub, tempDir, token, type TestHub } from '../support/helpers.js'
import { root } from '../support/paths.js'

const CHROMIUM = '/usr/bin/chromium'
// Skipping is for a developer's machine; in CI a missing browser is a broken setup.
const skip = !existsSync(CHROMIUM) && process.env.CI !== 'true' ? `${CHROMIUM} not found (apt-get install chromium); with CI=true this fails instead` : false

const dir = tempDir('browser')
let browser: Browser | undefined
let pageServer: Server | undefined
after(async () => {
  await browser?.close()
  pageServer?.closeAllConnections()
  pageServer?.close()
})

/** A hub with the SQLite store at `db`, on `port` (0: any); a restart passes the old port so the page finds it. */
function hubOn(db: string, port = 0): Promise<TestHub> {
  return startHub({ store: { path: join(dir, db) } }, '', port)
}

/** A durable send on a connection of its own (fetch's pool may hold one to a hub just closed). */
function send(hub: TestHub, uid: string, message: string): Promise<{ status: number; body: { id: string; seq: number; status: string } }> {
  return new Promise((resolve, reject) => {
    const headers = { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' }
    const req = request(`${hub.url}/send`, { method: 'POST', headers, agent: false }, (res) => {
      let text = ''
      res.setEncoding('utf8').on('data', (chunk: string) => { text += chunk })
      res.on('end', () => resolve({ status: res.statusCode!, body: JSON.parse(text) }))
    })
    req.on('error', reject).end(JSON.stringify({ uid, message, ttl: 60 }))
  })
}

// The page is a tiny app: it builds a client for the url in its query string, asks the
// test for tokens through freshToken() and reports every event through report(), both
// exposed by the test before the page loads.
const html = `<!doctype html>
<script type="module">
  import { PusherClient } from '/client.js'
  const query = new URLSearchParams(location.search)
  const url = query.get('ws')
  const initialMs = Number(query.get('initialMs') ?? 10)
  const client = new PusherClient({ url, token: () => window.freshToken(), backoff: { initialMs, maxMs: Math.max(50, initialMs) } })
  client.on('message', (m) => window.report('message', m))
  client.on('open', () => window.report('open', null))
  client.on('refresh', (info) => window.report('refresh', info))
  client.on('close', (info) => window.report('close', info))
  client.on('error', (error) => window.report('error', error.message))
  window.client = client
  client.connect()
</script>`

/** Serves the bundled client and the page; resolves with the page's URL. */
async function servePage(): Promise<string> {
  const bundle = await build({
    entryPoints: [join(root, 'client/index.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser', // fails the build if the client imports anything Node-only
    target: 'es2022',
    write: false,
  })
  const script = bundle.outputFiles[0]!.text
  pageServer = createServer((req, res) => {
    if (req.url === '/client.js') res.writeHead(200, { 'content-type': 'text/javascript' }).end(script)
    else res.writeHead(200, { 'content-type': 'text/html' }).end(html)
  })
  await new Promise<void>((resolve) => pageServer!.listen(0, '127.0.0.1', resolve))
  return `http://127.0.0.1:${(pageServer.address() as { port: number }).port}/`
}

let pageUrl: Promise<string> | undefined

/** What the page's client reported, in order, and a way to wait for a report. */
interface Reports {
  list: Array<{ event: string; value: any }>
  /** Resolves with the first report (from the start) that matches. */
  find(event: string, match?: (value: any) => boolean): Promise<any>
}

/**
 * A fresh page whose client connects to `wsUrl`. Its token hook calls `tokenFor()` in
 * the test each time it connects; every event the client emits is reported back.
 */
async function openPage(wsUrl: string, tokenFor: () => Promise<string> | string, initialMs = 10): Promise<{ page: Page; reports: Reports }> {
  if (!existsSync(CHROMIUM)) assert.fail(`${CHROMIUM} is missing: .ci/run installs it with apt-get install chromium`)
  browser ??= await chromium.launch({ executablePath: CHROMIUM, args: ['--headless', '--no-sandbox', '--disable-gpu'] })
  pageUrl ??= servePage()
  // Closed with the browser, in after().
  const page = await browser.newPage()
  const list: Reports['list'] = []
  const waiters = new Set<() => void>()
  page.on('pageerror', (error) => list.push({ event: 'pageerror', value: error.message }))
  await page.exposeFunction('freshToken', tokenFor)
  await page.exposeFunction('report', (event: string, value: unknown) => {
    list.push({ event, value })
    for (const wake of waiters) wake()
  })
  await page.goto(`${await pageUrl}?ws=${encodeURIComponent(`${wsUrl}/ws`)}&initialMs=${initialMs}`)
  const find: Reports['find'] = async (event, match = () => true) => {
    for (;;) {
      const found = list.find((r) => r.event === event && match(r.value))
      if (found !== undefined) return found.value
      await new Promise<void>((resolve) => {
        const wake = () => waiters.delete(wake) && resolve()
        waiters.add(wake)
      })
    }
  }
  return { page, reports: { list, find } }
}

const messages = (reports: Reports) => reports.list.filter((r) => r.event === 'message').map((r) => r.value)

test('in Chromium: the client connects with a token from its hook, receives, survives a hub restart and resumes', { skip, timeout: 60_000 }, async () => {
  let hub = await hubOn('browser.db')
  const port = Number(new URL(hub.url).port)
  let tokenCalls = 0
  let hold: Promise<void> | undefined
  let asked = () => {}
  try {
    const { page, reports } = await openPage(hub.wsUrl, async () => {
      tokenCalls++
      asked()
      if (hold !== undefined) await hold
      return token({ uid: 'browser-user' })
    })
    await reports.find('open')
    const first = await send(hub, 'browser-user', 'hello, browser')
    assert.equal(first.status, 200)
    const received = await reports.find('message')
    assert.deepEqual({ ...received, time: 0 }, { id: first.body.id, seq: first.body.seq, time: 0, data: 'hello, browser' })
    assert.equal(typeof received.time, 'number')

    // Hold the reconnect at its token request, so that m2 and m3 are sent while the page is away.
    let release = () => {}
    hold = new Promise<void>((resolve) => { release = resolve })
    const tokenAsked = new Promise<void>((resolve) => { asked = resolve })
    await hub.app.close()
    assert.deepEqual(await reports.find('close'), { code: 1001, reason: 'server shutting down', willReconnect: true })
    await tokenAsked
    hub = await hubOn('browser.db', port)
    assert.equal((await send(hub, 'browser-user', 'm2')).body.status, 'queued')
    assert.equal((await send(hub, 'browser-user', 'm3')).body.status, 'queued')
    hold = undefined
    release()
    const last = await send(hub, 'browser-user', 'm4')
    await reports.find('message', (m) => m.data === 'm4')
    // m4 came after the replay on the same socket: a duplicate would have come before it.
    assert.deepEqual(messages(reports).map((m) => m.data), ['hello, browser', 'm2', 'm3', 'm4'])
    assert.equal(await page.evaluate('client.lastSeq'), last.body.seq)
    assert.equal(tokenCalls, 2, 'one token per connection')
    assert.deepEqual(reports.list.filter((r) => r.event === 'pageerror'), [])

    await page.evaluate('client.close()')
    assert.equal((await reports.find('close', (c) => !c.willReconnect)).code, 1000)
  } finally {
    await hub.app.close()
  }
})

test('in Chromium: when the browser says it is back online, a client waiting out a long backoff reconnects at once', { skip, timeout: 60_000 }, async () => {
  let hub = await hubOn('online.db')
  const port = Number(new URL(hub.url).port)
  try {
    // Backoff delays of up to ten minutes: only the online event can bring it back in time.
    const { page, reports } = await openPage(hub.wsUrl, () => token({ uid: 'commuter' }), 600_000)
    await reports.find('open')
    await hub.app.close()
    await reports.find('close', (c) => c.willReconnect)
    hub = await hubOn('online.db', port)
    await page.evaluate("window.dispatchEvent(new Event('online'))")
    const sent = await send(hub, 'commuter', 'back in the tunnel exit')
    const received = await reports.find('message', (m) => m.data === 'back in the tunnel exit')
    assert.equal(received.seq, sent.body.seq)
    await page.evaluate('client.close()')
  } finally {
    await hub.app.close()
  }
})

test('in Chromium: a hub that does not select pusher.framed.v1 is reported and the socket closed', { skip, timeout: 60_000 }, async () => {
  // A hub older than the framed protocol selects pusher.v1, which the client offers for this.
  const old = new WebSocketServer({ host: '127.0.0.1', port: 0, handleProtocols: (offered) => (offered.has('pusher.v1') ? 'pusher.v1' : false) })
  await new Promise<void>((resolve) => old.once('listening', resolve))
  old.on('connection', (socket) => socket.send('bare text, as go-pusher sends it'))
  try {
    const { page, reports } = await openPage(`ws://127.0.0.1:${(old.address() as { port: number }).port}`, () => 'tok')
    assert.match(await reports.find('error'), /did not select the pusher\.framed\.v1 subprotocol \(it selected "pusher\.v1"\)/)
    assert.equal((await reports.find('close')).willReconnect, true, 'a later attempt may reach an upgraded hub')
    await page.evaluate('client.close()')
    assert.deepEqual(messages(reports), [], 'the bare text is not taken for a message')
    assert.equal(reports.list.filter((r) => r.event === 'open').length, 0)
  } finally {
    for (const socket of old.clients) socket.terminate()
    await new Promise((resolve) => old.close(resolve))
  }
})

test('in Chromium: the client refreshes its token on the open connection before exp and keeps receiving past it', { skip, timeout: 60_000 }, async () => {
  const hub = await hubOn('refresh.db')
  // Tokens that last one to two seconds (exp has second resolution): refreshed at half of that.
  const exps: number[] = []
  try {
    const { page, reports } = await openPage(hub.wsUrl, () => {
      exps.push((Math.floor(Date.now() / 1000) + 2) * 1000)
      return token({ uid: 'browser-refresh', exp: exps.at(-1)! / 1000 })
    })
    await reports.find('open')
    // A token fetched a second after the first one expired: the hub's expiry tick for
    // the first (at most a quarter of a second after it) is long past.
    await reports.find('refresh', (r) => r.expiresAt >= exps[0]! + 3000)
    const sent = await send(hub, 'browser-refresh', 'past the first exp')
    assert.equal(sent.body.status, 'delivered')
    await reports.find('message', (m) => m.data === 'past the first exp')
    assert.deepEqual(reports.list.filter((r) => r.event === 'close' || r.event === 'error' || r.event === 'pageerror'), [])
    assert.equal(reports.list.filter((r) => r.event === 'open').length, 1, 'one connection throughout')
    // Each refresh answered with its token's exp, in order (a later one may be under way).
    const refreshed = reports.list.filter((r) => r.event === 'refresh').map((r) => r.value.expiresAt)
    assert.deepEqual(refreshed, exps.slice(1, 1 + refreshed.length))
    await page.evaluate('client.close()')
  } finally {
    await hub.app.close()
  }
})

test('in Chromium: a kick that allows a reconnect (4002) is followed by one; a kick for good (4003) ends the client', { skip, timeout: 60_000 }, async () => {
  const hub = await hubOn('kicks.db')
  let asked = 0
  try {
    const { page, reports } = await openPage(hub.wsUrl, () => {
      asked++
      return token({ uid: 'browser-kicked' })
    })
    await reports.find('open')
    const kick = await fetch(`${hub.url}/users/browser-kicked/disconnect`, { method: 'POST', headers: { authorization: `Bearer ${API_KEY}` } })
    assert.deepEqual(await kick.json(), { disconnected: 1, nodes: 1 })
    assert.deepEqual(await reports.find('close'), { code: 4002, reason: 'disconnected by the server: reconnect later', willReconnect: true })
    await reports.find('open', () => reports.list.filter((r) => r.event === 'open').length === 2)
    const forGood = await fetch(`${hub.url}/users/browser-kicked/disconnect`, {
      method: 'POST',
      headers: { authorization: `Bearer ${API_KEY}`, 'content-type': 'application/json' },
      body: JSON.stringify({ reconnect: false }),
    })
    assert.equal(forGood.status, 200)
    assert.deepEqual(await reports.find('close', (c) => c.code === 4003), { code: 4003, reason: 'disconnected by the server: do not reconnect', willReconnect: false })
    assert.equal(asked, 2, 'no token asked for after 4003')
    // Stopped for good, as after close(): it will not connect again.
    assert.match(await page.evaluate('(() => { try { client.connect(); return "connected" } catch (error) { return error.message } })()') as string, /this client was closed/)
    assert.deepEqual(reports.list.filter((r) => r.event === 'error' || r.event === 'pageerror'), [])
  } finally {
    await hub.app.close()
  }
})


test('in Chromium: a subscription made from the page is confirmed, receives what is published to its topic, and after a reconnect recovers what it missed', { skip, timeout: 60_000 }, async () => {
  const hub = await hubOn('topics.db')
  // The page's token hook waits at this gate: what is published meanwhile is missed live.
  let gate = Promise.resolve()
  try {
    const { page, reports } = await openPage(hub.wsUrl, async () => {
      await gate
      return token({ uid: 'browser-topics' })
    })
    await reports.find('open')
    await page.evaluate(({ topic, topicToken }) => {
      const { client, report } = window as unknown as { client: PusherClient; report: (event: string, value: unknown) => void }
      const subscription = client.subscribe(topic, { token: topicToken })
      subscription.on('subscribed', (info) => report('subscribed', info))
      subscription.on('message', (data, info) => report('topic', { data, ...info }))
      subscription.on('error', (error) => report('topicError', error))
    }, { topic: 'browser-news', topicToken: token({ uid: 'browser-topics', topic: 'browser-news' }) })
    assert.deepEqual(await reports.find('subscribed'), { seq: 0 })
    assert.deepEqual(await hub.app.bus.publish('browser-news', 'hello, topic'), { delivered: 1, nodes: 1 })
    const received = await reports.find('topic')
    assert.deepEqual({ ...received, time: 0 }, { data: 'hello, topic', topic: 'browser-news', time: 0 })
    assert.equal(typeof received.time, 'number')
    assert.deepEqual(messages(reports), [], 'not a message of the user stream')
    assert.equal(await page.evaluate('client.lastSeq'), 0)

    const first = (await hub.app.bus.publish('browser-news', 'kept 1', { ttl: 60 })) as { seq: number }
    await reports.find('topic', (m) => m.data === 'kept 1')
    let open!: () => void
    gate = new Promise((resolve) => (open = resolve))
    assert.equal(hub.app.hub.disconnect('browser-topics'), 1)
    await reports.find('close')
    await hub.app.bus.publish('browser-news', 'kept 2', { ttl: 60 })
    await hub.app.bus.publish('browser-news', 'kept 3', { ttl: 60 })
    open()
    assert.deepEqual(await reports.find('subscribed', (info) => info.recovered !== undefined), { seq: first.seq + 2, recovered: true })
    await hub.app.bus.publish('browser-news', 'kept 4', { ttl: 60 })
    await reports.find('topic', (m) => m.data === 'kept 4')
    const topicMessages = reports.list.filter((r) => r.event === 'topic').map((r) => [r.value.data, r.value.seq])
    assert.deepEqual(topicMessages, [['hello, topic', undefined], ['kept 1', first.seq], ['kept 2', first.seq + 1], ['kept 3', first.seq + 2], ['kept 4', first.seq + 3]])
    assert.equal(await page.evaluate('client.lastSeq'), 0, 'topic seqs never move the user stream\'s')
    assert.deepEqual(reports.list.filter((r) => ['topicError', 'error', 'pageerror'].includes(r.event)), [])
    await page.evaluate('client.close()')
  } finally {
    await hub.app.close()
  }
})
