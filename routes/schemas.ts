// Request and response shapes of the sender API, one TypeBox source for validation,
// serialization, the handler's types and the OpenAPI document. Unknown fields are
// errors, not silently dropped. A response schema also decides what is sent: a property
// it does not list is dropped from the answer, so every field a Delivery can carry is here.
import { Type } from 'typebox'
import type { PusherConfig } from '../lib/config/config.js'
import { MAX_TTL_SECONDS } from '../lib/store/ttl.js'

export function senderSchemas(config: Pick<PusherConfig, 'maxUidLength' | 'maxBatchSize'>) {
  // Its rule (non-empty, at most maxUidLength UTF-16 code units, well-formed Unicode) is
  // lib/uid.ts's uidProblem, applied by the handler: the schema's own maxLength would count
  // code points, not what the token check and the handler count.
  const uid = Type.String({
    description: `the user to push to: 1 to ${config.maxUidLength} UTF-16 code units of well-formed Unicode (no lone surrogate)`,
  })
  // Length in bytes is checked against maxMessageBytes by the handler, which knows the encoding.
  const message = Type.String({ description: 'sent as one WebSocket text frame' })
  const strict = { additionalProperties: false } as const
  // Durable delivery; form and query fields are strings, so both spellings are accepted.
  // Only the type is checked here: lib/ttl.ts's ttlSeconds, in the handler, is the one
  // place that reads the value and enforces its bounds, the same way for every spelling.
  const ttl = Type.Optional(Type.Union([Type.Number(), Type.String()], {
    description: `keep the message for this many seconds until a connection of the user takes it: a whole number from 1 to ${MAX_TTL_SECONDS} (30 days), as a number or a string of digits`,
  }))
  const durable = Type.Optional(Type.Union([Type.Boolean(), Type.Literal('true'), Type.Literal('false')], {
    description: 'keep the message for the server\'s default time to live',
  }))

  const SendBody = Type.Object({ uid, message, ttl, durable }, strict)
  const BatchItem = Type.Object({ uid, message, ttl }, strict)
  const BroadcastBody = Type.Object({ message }, strict)
  const BatchBody = Type.Object({
    messages: Type.Array(BatchItem, { minItems: 1, maxItems: config.maxBatchSize }),
    // For every message of the batch; a message's own ttl wins.
    ttl,
    durable,
  }, strict)

  const partial = Type.Optional(Type.Literal(true, { description: 'Redis was unreachable: only this node\'s connections were served' }))
  const Delivered = Type.Object({
    delivered: Type.Integer({ description: 'connections the message was written to, on every node' }),
    nodes: Type.Integer({ description: 'nodes the message was handed to' }),
    partial,
    id: Type.Optional(Type.String({ description: 'durable messages: the id to ask GET /messages/:id about' })),
    seq: Type.Optional(Type.Integer({ description: 'durable messages: its place in the user\'s stream' })),
    status: Type.Optional(Type.String({ description: 'durable messages: queued or delivered' })),
  })
  const time = Type.Optional(Type.String({ format: 'date-time' }))
  const MessageState = Type.Object({
    id: Type.String(),
    uid: Type.String(),
    seq: Type.Integer(),
    status: Type.String({ description: 'queued, delivered, acked or expired' }),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    deliveredAt: time,
    ackedAt: time,
    expiredAt: time,
  })
  const MessageParams = Type.Object({ id: Type.String({ minLength: 1, maxLength: 64 }) }, strict)
  const BatchResult = Type.Object({
    delivered: Type.Integer({ description: 'connections written to, over all messages' }),
    offline: Type.Integer({ description: 'messages whose user had no connection' }),
    results: Type.Array(Type.Object({
      uid: Type.String(),
      delivered: Type.Integer(),
      id: Type.Optional(Type.String({ description: 'durable messages: the id to ask GET /messages/:id about' })),
      seq: Type.Optional(Type.Integer()),
      status: Type.Optional(Type.String({ description: 'durable messages: queued or delivered' })),
    })),
    partial,
  })
  return {
    SendBody,
    // go-pusher also took its fields from the query string; a query carries the same fields.
    SendQuery: Type.Partial(SendBody),
    BroadcastBody,
    BroadcastQuery: Type.Partial(BroadcastBody),
    BatchBody,
    Delivered,
    MessageState,
    MessageParams,
    BatchResult,
  }
}

/**
 * The body limit of a route that takes one message and the name it goes to (a uid, a
 * topic): JSON may escape a character as \uXXXX (6 bytes), so room for that, and some
 * for the rest of the body. The message's own size is checked in UTF-8 by the handler.
 */
export function messageBodyLimit(maxMessageBytes: number, maxNameLength: number): number {
  return maxMessageBytes * 6 + maxNameLength * 6 + 1024
}

/** What each error status of the sender routes means; each route lists those it can answer. */
export const SENDER_ERRORS = {
  400: 'Invalid input: a missing, unknown or mistyped field, malformed JSON, an invalid uid or ttl, or a ttl without a message store (the code says which). Nothing was sent',
  401: 'No API key, or an unknown one (PUSHER_ERR_SENDER_UNAUTHORIZED); comes with WWW-Authenticate: Bearer',
  404: 'The user has no open connection on any node (PUSHER_ERR_USER_OFFLINE). Nothing was sent or kept',
  413: 'A message over maxMessageBytes in UTF-8 (PUSHER_ERR_MESSAGE_TOO_LARGE), or a body far over any limit. Nothing was sent',
  415: 'A body that is neither JSON nor a form',
  429: 'Too many failed authentications from this address (PUSHER_ERR_TOO_MANY_FAILURES, with Retry-After), or more than PUSHER_SEND_RATE_LIMIT requests a second with this key',
  503: 'Nothing was sent or stored: Redis is unreachable in cluster mode and the user is not connected here (PUSHER_ERR_CLUSTER_UNAVAILABLE), the store cannot write (PUSHER_ERR_STORE_UNAVAILABLE), or the hub is shutting down. Retry shortly',
} as const

/** The SENDER_ERRORS entries of these statuses. */
export function senderErrors(...statuses: Array<keyof typeof SENDER_ERRORS>): Record<number, string> {
  return Object.fromEntries(statuses.map((status) => [status, SENDER_ERRORS[status]]))
}
