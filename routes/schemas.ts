// Request and response shapes of the sender API, one TypeBox source for validation,
// serialization and the handler's types. Unknown fields are errors, not silently dropped.
import { Type } from 'typebox'
import type { PusherConfig } from '../lib/config.js'

export function senderSchemas(config: Pick<PusherConfig, 'maxUidLength' | 'maxBatchSize'>) {
  const uid = Type.String({ minLength: 1, maxLength: config.maxUidLength, description: 'the user to push to' })
  // Length in bytes is checked against maxMessageBytes by the handler, which knows the encoding.
  const message = Type.String({ description: 'sent as one WebSocket text frame' })
  const strict = { additionalProperties: false } as const

  const SendBody = Type.Object({ uid, message }, strict)
  const BroadcastBody = Type.Object({ message }, strict)
  const BatchBody = Type.Object({
    messages: Type.Array(SendBody, { minItems: 1, maxItems: config.maxBatchSize }),
  }, strict)

  const partial = Type.Optional(Type.Literal(true, { description: 'Redis was unreachable: only this node\'s connections were served' }))
  const Delivered = Type.Object({
    delivered: Type.Integer({ description: 'connections the message was written to, on every node' }),
    nodes: Type.Integer({ description: 'nodes the message was handed to' }),
    partial,
  })
  const BatchResult = Type.Object({
    delivered: Type.Integer({ description: 'connections written to, over all messages' }),
    offline: Type.Integer({ description: 'messages whose user had no connection' }),
    results: Type.Array(Type.Object({ uid: Type.String(), delivered: Type.Integer() })),
    partial,
  })
  const Error = Type.Object({
    statusCode: Type.Integer(),
    code: Type.String(),
    error: Type.String(),
    message: Type.String(),
  })

  return {
    SendBody,
    // go-pusher also took its fields from the query string; a query carries the same fields.
    SendQuery: Type.Partial(SendBody),
    BroadcastBody,
    BroadcastQuery: Type.Partial(BroadcastBody),
    BatchBody,
    Delivered,
    BatchResult,
    Error,
  }
}
