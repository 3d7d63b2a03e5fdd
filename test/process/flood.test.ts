// The hub stays reachable while one address holds thousands of idle sockets. The hub
// runs in its own process with a descriptor limit of 1024 (prlimit), and an attacker on
// 127.0.0.2 opens 3000 TCP connections that never send a byte. Meanwhile sends, /metrics
// and new WebSocket clients from 127.0.0.1 must keep being answered: once through the
// per-address cap on idle sockets, once, with that cap off, through shedding the oldest
// idle sockets as the process nears its descriptor limit.
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { connect as tcpConnect, type Socket } from 'node:net'
import { test } from 'node:test'
import { connectAs, metrics, post, type TestHub } from '../support/helpers.js'
import { startLimitedHubProcess } from '../support/processes.js'

const ATTACKER = '127.0.0.2'
const IDLE_SOCKETS = 3000

/** Opens `count` idle sockets from `localAddress`, a hundred at a time; resolves once each has connected or been refused. */
async function holdIdleSockets(hub: TestHub, count: number, localAddress: string): Promise<Socket[]> {
  const port = Number(new URL(hub.url).port)
  const sockets: Socket[] = []
  for (let opened = 0; opened < count; opened += 100) {
    const batch = Array.from({ length: Math.min(100, count - opened) }, () => {
      const socket = tcpConnect({ port, host: '127.0.0.1', localAddress })
      socket.on('error', () => {})
      sockets.push(socket)
      return Promise.race([once(socket, 'connect'), once(socket, 'close')])
    })
    await Promise.all(batch)
  }
  return sockets
}

/** Resolves once at most `left` of `sockets` are still open. */
function closedDownTo(sockets: Socket[], left: number): Promise<void> {
  let open = sockets.filter((socket) => !socket.destroyed).length
  if (open <= left) return Promise.resolve()
  return new Promise((resolve) => {
    for (const socket of sockets) {
      if (socket.destroyed) continue
      socket.once('close', () => {
        if (--open === left) resolve()
      })
    }
  })
}

/** What a legitimate sender and client from 127.0.0.1 get while the attack goes on. */
async function legitimateTraffic(hub: TestHub): Promise<void> {
  const client = await connectAs(hub, 'legit')
  const sent = await post(hub, '/send', { uid: 'legit', message: 'still reachable' })
  assert.equal(sent.status, 200)
  assert.deepEqual(await client.received(1), ['still reachable'])
  assert.equal((await fetch(`${hub.url}/metrics`)).status, 200)
  await client.close()
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return
  const exited = once(child, 'exit')
  child.kill('SIGKILL')
  await exited
}

test('with the default per-address cap, an address holding thousands of idle sockets keeps only 64; others are served', { timeout: 60_000 }, async () => {
  const { child, hub } = await startLimitedHubProcess({ env: { REDIS_URL: '', PUSHER_DB: '' }, nofile: 1024 })
  let sockets: Socket[] = []
  try {
    sockets = await holdIdleSockets(hub, IDLE_SOCKETS, ATTACKER)
    await legitimateTraffic(hub)
    // Past the cap, an address's oldest idle sockets go once they have waited a second.
    await closedDownTo(sockets, 64)
    const series = await metrics(hub)
    assert.ok(series.get('pusher_refused_total{reason="shed"}')! >= IDLE_SOCKETS - 64, `shed ${series.get('pusher_refused_total{reason="shed"}')}`)
    await legitimateTraffic(hub)
    assert.equal(child.exitCode, null)
  } finally {
    for (const socket of sockets) socket.destroy()
    await stop(child)
  }
})

test('with no per-address cap, the oldest idle sockets are shed near the descriptor limit; others are served', { timeout: 60_000 }, async () => {
  const { child, hub } = await startLimitedHubProcess({ env: { REDIS_URL: '', PUSHER_DB: '', PUSHER_MAX_IDLE_PER_ADDRESS: '0' }, nofile: 1024 })
  let sockets: Socket[] = []
  try {
    sockets = await holdIdleSockets(hub, IDLE_SOCKETS, ATTACKER)
    await legitimateTraffic(hub)
    const series = await metrics(hub)
    const shed = series.get('pusher_refused_total{reason="shed"}')!
    // The hub held as many as its descriptors allowed and shed the rest, oldest first.
    assert.ok(shed >= IDLE_SOCKETS - 1024, `shed ${shed}`)
    assert.ok(sockets[0]!.destroyed || sockets[0]!.readyState !== 'open', 'the oldest idle socket is still open')
    assert.equal(child.exitCode, null)
  } finally {
    for (const socket of sockets) socket.destroy()
    await stop(child)
  }
})
