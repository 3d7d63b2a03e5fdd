// Durable delivery in cluster mode, against the real Redis at REDIS_URL: the store is
// shared, so any node delivers a user's queue; a node that dies loses nothing a sender
// was told is kept.
import assert from 'node:assert/strict'
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { after, before, describe, test } from 'node:test'
import { type ClusterNode, dropPrefix, REDIS_URL, redisReachable, settle, startNode, testPrefix, twoNodes } from '../support/cluster-helpers.js'
import { connectFramed, messageState, post, type TestHub } from '../support/helpers.js'
import { startHubProcess } from '../support/processes.js'

const reachable = await redisReachable()
if (!reachable && process.env.CI) throw new Error(`Redis must be reachable at ${REDIS_URL} under CI=true`)
const skip = reachable ? false : 'Redis is not reachable at REDIS_URL'

const status = async (hub: TestHub, id: string): Promise<string> => (await messageState(hub, id)).body.status

describe('framed clients across nodes', { skip }, () => {
  const nodes = twoNodes(['sender-side', 'user-side'])
  let a: ClusterNode
  let b: ClusterNode
  before(() => ({ a, b } = nodes))

  test('a durable message relayed to another node reaches a framed client with its id and seq, and its ack counts everywhere', async () => {
    const client = await connectFramed(b, 'relayed')
    await settle(a, b)
    const response = await post(a, '/send', { uid: 'relayed', message: 'via Redis', ttl: 60 })
    assert.equal(response.status, 200)
    const [envelope] = await client.envelopes(1)
    assert.deepEqual([envelope!.id, envelope!.seq, envelope!.data], [response.body.id, response.body.seq, 'via Redis'])
    client.ack(envelope!.seq!)
    while ((await status(a, response.body.id)) !== 'acked') await new Promise((resolve) => setImmediate(resolve))
    await client.close()
  })

  test('durable sends racing a connect arrive in order, each once: stored ones first, then live ones', async () => {
    const uid = 'racer'
    for (let i = 0; i < 50; i++) await post(a, '/send', { uid, message: `stored ${i}`, ttl: 60 })
    // The replay reads Redis while these are stored and relayed: some land before the
    // read, some during it, some after.
    const sending = Promise.all(Array.from({ length: 100 }, (_, i) => post(a, '/send', { uid, message: `live ${i}`, ttl: 60 })))
    const client = await connectFramed(b, uid)
    await sending
    const envelopes = await client.envelopes(150)
    const seqs = envelopes.map((e) => e.seq!)
    assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'seqs arrive in ascending order')
    assert.equal(new Set(seqs).size, 150, 'no message arrives twice')
    await client.close()
  })
})

describe('framed clients across nodes: two senders', { skip }, () => {
  test('durable sends to one user through two nodes at once reach the client in seq order, each once, none missing', { timeout: 30_000 }, async () => {
    const prefix = testPrefix()
    const nodes = await Promise.all([startNode(prefix, 'one'), startNode(prefix, 'two'), startNode(prefix, 'holder')])
    try {
      const [one, two, holder] = nodes
      const client = await connectFramed(holder!, 'popular')
      await settle(...nodes)
      // Seqs are handed out in Redis in one order, and relays from two nodes arrive in
      // another: the holder must put them back in order (filling gaps from the store).
      const sends = Array.from({ length: 200 }, (_, i) => post(i % 2 === 0 ? one! : two!, '/send', { uid: 'popular', message: `m${i}`, ttl: 60 }))
      const answers = await Promise.all(sends)
      const envelopes = await client.envelopes(200)
      const seqs = envelopes.map((e) => e.seq!)
      assert.deepEqual(seqs, [...seqs].sort((x, y) => x - y), 'seqs arrive in ascending order')
      assert.deepEqual(new Set(seqs), new Set(answers.map((r) => r.body.seq)), 'every message arrives, once')
      await client.close()
    } finally {
      await Promise.all(nodes.map((node) => node.app.close()))
      await dropPrefix(prefix)
    }
  })
})

/**
 * Runs `body` with two nodes of one fresh cluster: `survivor` in this process and `doomed`
 * in a child process the test may SIGKILL (its lease lapses after 1 s). Both go at the end.
 */
async function withDoomedNode(body: (survivor: TestHub, doomed: TestHub, child: ChildProcess) => Promise<void>): Promise<void> {
  const prefix = testPrefix()
  const survivor = await startNode(prefix, 'survivor')
  const { child, hub: doomed } = await startHubProcess(
    { REDIS_URL, PUSHER_REDIS_PREFIX: prefix, PUSHER_NODE_ID: 'doomed', PUSHER_LEASE_TTL_MS: '1000' }, /joined the cluster/)
  try {
    await body(survivor, doomed, child)
  } finally {
    child.kill('SIGKILL')
    await survivor.app.close()
    await dropPrefix(prefix)
  }
}

describe('a node killed with SIGKILL', { skip }, () => {
  test('a message answered 202 by a node killed right after is delivered by another node', { timeout: 60_000 }, async () => {
    await withDoomedNode(async (survivor, doomed, child) => {
      const response = await post(doomed, '/send', { uid: 'traveller', message: 'answered, then the node died', ttl: 60 })
      assert.equal(response.status, 202)
      child.kill('SIGKILL')
      await once(child, 'exit')
      const client = await connectFramed(survivor, 'traveller')
      const [envelope] = await client.envelopes(1)
      assert.deepEqual([envelope!.id, envelope!.data], [response.body.id, 'answered, then the node died'])
      await client.close()
    })
  })

  test('messages written to a user on a node that dies before the ack are delivered again by the node that takes the user over', { timeout: 60_000 }, async () => {
    await withDoomedNode(async (survivor, doomed, child) => {
      const first = await connectFramed(doomed, 'mover')
      const sent = [await post(doomed, '/send', { uid: 'mover', message: 'acked', ttl: 60 })]
      const [acked] = await first.envelopes(1)
      first.ack(acked!.seq!)
      while ((await status(survivor, sent[0]!.body.id)) !== 'acked') await new Promise((resolve) => setImmediate(resolve))
      sent.push(await post(doomed, '/send', { uid: 'mover', message: 'written, not acked', ttl: 60 }))
      assert.equal(sent[1]!.body.status, 'delivered')
      await first.envelopes(2)

      const gone = first.closed()
      child.kill('SIGKILL')
      await gone
      // A client that kept only what it acknowledged resumes after its ack on another
      // node: the message written but not acknowledged comes again.
      const second = await connectFramed(survivor, 'mover', acked!.seq)
      const [again] = await second.envelopes(1)
      assert.deepEqual([again!.id, again!.data], [sent[1]!.body.id, 'written, not acked'])
      await second.close()
    })
  })
})
