// Request and response shapes of session control: presence, kicks and revocations.
// Unknown fields are errors, as in the sender API (schemas.ts).
import { Type } from 'typebox'
import type { PusherConfig } from '../lib/config/config.js'

export function sessionSchemas(config: Pick<PusherConfig, 'maxUidLength' | 'maxBatchSize'>) {
  const strict = { additionalProperties: false } as const
  // Checked by the bus (lib/auth/uid.ts), which counts as the token check does.
  const uid = Type.String({ description: `a user id: 1 to ${config.maxUidLength} UTF-16 code units of well-formed Unicode` })
  const partial = Type.Optional(Type.Literal(true, { description: 'Redis was unreachable: only this node was reached' }))

  const UserParams = Type.Object({ uid }, strict)
  const UserPresence = Type.Object({
    uid: Type.String(),
    online: Type.Boolean({ description: 'the user holds at least one connection, on any node' }),
    connections: Type.Integer({ description: 'open connections of the user, on every node' }),
    nodes: Type.Integer({ description: 'nodes holding at least one of them' }),
  })
  const PresenceBody = Type.Object({
    uids: Type.Array(uid, { minItems: 1, maxItems: config.maxBatchSize, description: `at most ${config.maxBatchSize} (PUSHER_MAX_BATCH_SIZE)` }),
  }, strict)
  const PresenceResults = Type.Object({
    results: Type.Array(Type.Object({ uid: Type.String(), online: Type.Boolean(), connections: Type.Integer() }), { description: 'in request order' }),
  })
  const ClusterStats = Type.Object({
    nodes: Type.Integer({ description: 'live nodes of the cluster (1 on one node)' }),
    connections: Type.Integer({ description: 'open connections, every node (other nodes as of their last lease, about a second ago)' }),
    users: Type.Integer({ description: 'users with at least one connection, every node' }),
    node: Type.Object({
      id: Type.String({ description: 'this node\'s name (PUSHER_NODE_ID); "local" on one node' }),
      connections: Type.Integer(),
      users: Type.Integer(),
    }),
  })
  const DisconnectBody = Type.Object({
    reconnect: Type.Optional(Type.Boolean({ description: 'default true: close with 4002, the client may reconnect; false: 4003, it must not' })),
  }, strict)
  const Disconnection = Type.Object({
    disconnected: Type.Integer({ description: 'connections closed, on every node' }),
    nodes: Type.Integer({ description: 'nodes that closed at least one' }),
    partial,
  })
  const RevokeBody = Type.Object({
    before: Type.Optional(Type.Number({ description: 'unix seconds; tokens issued (iat) before it are refused and their connections closed. Default: now' })),
  }, strict)
  const Revocation = Type.Object({
    uid: Type.String(),
    before: Type.Integer({ description: 'the cut, unix seconds' }),
    keptUntil: Type.Integer({ description: 'the cut is kept until then (PUSHER_REVOCATION_TTL_S after it), unix seconds' }),
    nodes: Type.Integer({ description: 'nodes that applied it' }),
  })

  return { UserParams, UserPresence, PresenceBody, PresenceResults, ClusterStats, DisconnectBody, Disconnection, RevokeBody, Revocation }
}
