// Session control across nodes joined by the real Redis at REDIS_URL: presence and stats
// count every node, and a kick or a revocation sent to node A reaches the user's
// connections on node B. A node that joins later learns the revocations in force.
import assert from 'node:assert/strict'
import { before, describe, test } from 'node:test'
import { CloseCode } from '../../app.js'
import { type ClusterNode, redisReachable, settle, startNode, testPrefix, twoNodes } from '../support/cluster-helpers.js'
import { connect, connectAs, get, post, refusedUpgrade, token } from '../support/helpers.js'

// Under CI=true an unreachable Redis throws here: the file fails, it does not skip.
const skip = (await redisReachable()) ? false : 'Redis is not reachable at REDIS_URL'

describe('session control across two nodes', { skip }, () => {
  const prefix = `${testPrefix()}sessions:`
  const nodes = twoNodes(['sessions-a', 'sessions-b'], prefix)
  let a: ClusterNode
  let b: ClusterNode
  before(() => ({ a, b } = nodes))

  test('presence and stats count the connections on every node', async () => {
    const clients = await Promise.all([connectAs(a, 'roaming'), connectAs(a, 'roaming'), connectAs(b, 'roaming'), connectAs(b, 'homebody')])
    await settle(a, b)
    for (const node of [a, b]) {
      assert.deepEqual((await get(node, '/users/roaming')).body, { uid: 'roaming', online: true, connections: 3, nodes: 2 })
      assert.deepEqual((await post(node, '/presence', { uids: ['homebody', 'nobody', 'roaming'] })).body.results, [
        { uid: 'homebody', online: true, connections: 1 },
        { uid: 'nobody', online: false, connections: 0 },
        { uid: 'roaming', online: true, connections: 3 },
      ])
    }
    const stats = (await get(a, '/stats')).body
    assert.deepEqual(stats, { nodes: 2, connections: 4, users: 2, node: { id: 'sessions-a', connections: 2, users: 1 } })
    await Promise.all(clients.map((client) => client.close()))
    await settle(a, b)
    assert.deepEqual((await get(a, '/users/roaming')).body, { uid: 'roaming', online: false, connections: 0, nodes: 0 })
  })

  test('a kick sent to node A closes the user\'s connections on node B', async () => {
    const [onB, alsoOnB, onA] = await Promise.all([connectAs(b, 'kicked'), connectAs(b, 'kicked'), connectAs(a, 'kicked')])
    await settle(a, b)
    const closes = [onB.closed(), alsoOnB.closed(), onA.closed()]
    const kick = await post(a, '/users/kicked/disconnect', { reconnect: false })
    assert.equal(kick.status, 200)
    assert.deepEqual(kick.body, { disconnected: 3, nodes: 2 })
    for (const { code } of await Promise.all(closes)) assert.equal(code, CloseCode.DISCONNECTED_FOR_GOOD)
  })

  test('a revocation sent to node A closes older tokens\' connections on node B, and every node refuses them', async () => {
    const cut = Math.floor(Date.now() / 1000) - 30
    const oldToken = token({ uid: 'leaked', iat: cut - 60 })
    const newToken = token({ uid: 'leaked', iat: cut + 1 })
    const [stale, fresh] = await Promise.all([connect(b, { token: oldToken }), connect(b, { token: newToken })])
    await settle(a, b)
    const closed = stale.closed()
    const revoked = await post(a, '/users/leaked/revoke', { before: cut })
    assert.equal(revoked.status, 200)
    assert.equal(revoked.body.before, cut)
    assert.equal(revoked.body.nodes, 2)
    assert.equal((await closed).code, CloseCode.TOKEN_REVOKED)
    for (const node of [a, b]) {
      const refused = await refusedUpgrade(`${node.wsUrl}/ws?token=${oldToken}`)
      assert.equal(refused.status, 401, node.url)
      assert.match(refused.body.message, /\(revoked\)/)
    }
    assert.deepEqual((await post(a, '/send', { uid: 'leaked', message: 'to the fresh token' })).body, { delivered: 1, nodes: 1 })
    assert.deepEqual(await fresh.received(1), ['to the fresh token'])

    // A node that joins afterwards reads the revocations in force from Redis.
    const late = await startNode(prefix, 'sessions-late')
    try {
      const refused = await refusedUpgrade(`${late.wsUrl}/ws?token=${oldToken}`)
      assert.equal(refused.status, 401)
      assert.match(refused.body.message, /\(revoked\)/)
      const accepted = await connect(late, { token: newToken })
      await Promise.all([fresh.close(), accepted.close()])
    } finally {
      await late.app.close()
    }
  })
})
