// The sender API: POST|GET /send, POST /send/batch, POST /broadcast. Every route needs
// an API key; bodies are JSON or form-encoded (go-pusher posted forms), and /send and
// /broadcast also take their fields from the query string as go-pusher did.
import formbody from '@fastify/formbody'
import type { FastifyInstance, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import type { Delivery } from '../lib/bus/bus.js'
import type { PusherConfig } from '../lib/config/config.js'
import { PusherError } from '../lib/errors.js'
import { limitSendRate } from './send-rate.js'
import { fromStore } from '../lib/store/durable-send.js'
import { ttlSeconds } from '../lib/store/ttl.js'
import { assertUid } from '../lib/auth/uid.js'
import { assertMessageSize } from '../lib/limits/message-size.js'
import { errorResponses } from './error-schema.js'
import { messageBodyLimit, SENDER_ERRORS, senderErrors, senderSchemas } from './schemas.js'
import { senderScope } from './validation.js'

interface SendFields {
  uid: string
  message: string
  ttl?: number | string
  durable?: boolean | string
}

export interface SendRoutesOptions {
  config: PusherConfig
}

async function sendRoutes(instance: FastifyInstance, { config }: SendRoutesOptions) {
  // `additionalProperties: false` is checked as written (Fastify's default Ajv would
  // strip unknown fields silently); errors name the offending fields.
  const fastify = senderScope(instance)
  await fastify.register(formbody)
  if (config.sendRateLimit > 0) await limitSendRate(fastify, config)

  const schemas = senderSchemas(config)
  const bus = fastify.bus
  const bodyLimit = messageBodyLimit(config.maxMessageBytes, config.maxUidLength)

  const checkSize = (message: string): void => assertMessageSize(message, config.maxMessageBytes)

  const delivered = (uid: string, delivery: Delivery): Delivery => {
    if (delivery.delivered === 0) throw new PusherError.USER_OFFLINE(uid)
    return delivery
  }

  const store = fastify.store
  /** `durable` as a form or query field is a string. */
  const isDurable = (durable: boolean | string | undefined) => durable === true || durable === 'true'

  // Handlers are plain functions (not async): Fastify sends what they return, and with
  // the in-process bus the hottest route then needs no promise at all.
  const sendOne = (fields: SendFields, reply: FastifyReply) => {
    const { uid, message, ttl } = fields
    // The bus checks the uid (400 PUSHER_ERR_INVALID_UID) before it stores or sends.
    checkSize(message)
    const durable = isDurable(fields.durable)
    if (ttl === undefined && !durable) {
      const delivery = bus.send(uid, message)
      return delivery instanceof Promise ? delivery.then((d) => delivered(uid, d)) : delivered(uid, delivery)
    }
    // Stored first; 200 when a connection took it now, 202 when it waits for the user's next connect.
    return Promise.resolve(bus.send(uid, message, { ttl, durable })).then((delivery) => {
      if (delivery.status === 'queued') reply.code(202)
      return delivery
    })
  }

  fastify.post('/send', {
    bodyLimit,
    preValidation: takeFieldsFromQuery,
    schema: {
      summary: 'Send a message to every connection of a user',
      description: 'The fields come as JSON or as a form; go-pusher\'s way, query parameters alone with no body, works too (form fields win, the query fills in what is missing). With `ttl` or `durable` the message is stored first and waits for the user\'s next connection if none takes it now.',
      tags: ['senders'],
      consumes: FORM_OR_JSON,
      body: schemas.SendBody,
      querystring: schemas.SendQuery,
      response: {
        200: { ...schemas.Delivered, description: 'written to the user\'s connections (`delivered` of them, on `nodes` nodes); a durable send also has `id`, `seq` and `status: "delivered"`' },
        202: { ...schemas.Delivered, description: 'a durable send whose user has no connection now: stored (`status: "queued"`, `delivered: 0`), sent on the next connect' },
        ...errorResponses(senderErrors(400, 401, 404, 413, 415, 429, 503)),
      },
    },
  }, (request, reply) => {
    // A form body overrides the query's fields, and a JSON body ignores them: they are
    // still held to the same rules, as the query schema held them before.
    const { uid, ttl } = request.query
    if (uid !== undefined) assertUid(uid, config.maxUidLength)
    if (ttl !== undefined) ttlSeconds(ttl)
    return sendOne(request.body, reply)
  })

  fastify.get('/send', {
    schema: {
      summary: 'Send a message to every connection of a user, from the query string',
      description: 'go-pusher\'s form of POST /send. Prefer POST where a retry must not send twice: proxies may retry a GET.',
      tags: ['senders'],
      querystring: schemas.SendBody,
      response: {
        200: { ...schemas.Delivered, description: 'as for POST /send' },
        202: { ...schemas.Delivered, description: 'as for POST /send: stored, sent on the next connect' },
        ...errorResponses(senderErrors(400, 401, 404, 413, 429, 503)),
      },
    },
  }, (request, reply) => sendOne(request.query, reply))

  fastify.get('/messages/:id', {
    schema: {
      summary: 'The state of a durable message',
      description: 'Where a message sent with a ttl is: queued, delivered, acked or expired, with the times. Kept until a while after it was acknowledged or expired.',
      tags: ['senders'],
      params: schemas.MessageParams,
      response: {
        200: { ...schemas.MessageState, description: 'the message, as it is now' },
        ...errorResponses({
          400: 'An id that is empty or over 64 characters, or no message store (PUSHER_ERR_STORE_DISABLED)',
          401: SENDER_ERRORS[401],
          404: 'No such message is kept (PUSHER_ERR_MESSAGE_NOT_FOUND): a wrong id, or one forgotten after it was closed',
          429: SENDER_ERRORS[429],
          503: 'The store cannot be reached (PUSHER_ERR_STORE_UNAVAILABLE), or the hub is shutting down. Retry shortly',
        }),
      },
    },
  }, async (request) => {
    if (store === undefined) throw new PusherError.STORE_DISABLED()
    const message = await fromStore(() => store.get(request.params.id))
    if (message === undefined) throw new PusherError.MESSAGE_NOT_FOUND(request.params.id)
    const iso = (ms: number | undefined) => (ms === undefined ? undefined : new Date(ms).toISOString())
    return {
      id: message.id, uid: message.uid, seq: message.seq, status: message.status,
      createdAt: iso(message.createdAt)!, expiresAt: iso(message.expiresAt)!,
      deliveredAt: iso(message.deliveredAt), ackedAt: iso(message.ackedAt), expiredAt: iso(message.expiredAt),
    }
  })

  fastify.post('/send/batch', {
    bodyLimit: config.maxBatchBytes,
    schema: {
      summary: 'Send many messages, each to its user, in one request',
      description: 'Each message to its own user; the answer lists them in request order. A batch is refused whole (nothing sent) if any uid, ttl or size is wrong. With `ttl` or `durable` (for all, or a `ttl` per message) messages are stored first.',
      tags: ['senders'],
      body: schemas.BatchBody,
      response: {
        200: { ...schemas.BatchResult, description: 'per message, how many connections took it; users with none count as `offline` (durable items: `status: "queued"`)' },
        ...errorResponses(senderErrors(400, 401, 413, 415, 429, 503)),
      },
    },
  }, (request) => {
    // Check every size first, so a batch is either refused whole or sent whole (the bus
    // checks every uid and ttl before it stores or sends anything).
    const { messages, ttl, durable } = request.body
    for (const { message } of messages) checkSize(message)
    return bus.sendBatch(messages, { ttl, durable: isDurable(durable) })
  })

  fastify.post('/broadcast', {
    bodyLimit,
    preValidation: takeFieldsFromQuery,
    schema: {
      summary: 'Send a message to every connection of every user',
      description: 'On every node of a cluster. Fields as JSON, a form, or query parameters alone, as for POST /send.',
      tags: ['senders'],
      consumes: FORM_OR_JSON,
      body: schemas.BroadcastBody,
      querystring: schemas.BroadcastQuery,
      response: {
        200: { ...schemas.Delivered, description: 'the connections written to (other nodes\' counts as of their last report)' },
        ...errorResponses(senderErrors(400, 401, 413, 415, 429, 503)),
      },
    },
  }, (request) => {
    checkSize(request.body.message)
    return bus.broadcast(request.body.message)
  })
}

/** Body types the sender routes that go-pusher had accept, for the OpenAPI document. */
const FORM_OR_JSON = ['application/json', 'application/x-www-form-urlencoded']

/**
 * go-pusher read `r.FormValue`, which merges query and form fields: a POST with no
 * body, or a form body, takes missing fields from the query string. JSON bodies stand
 * alone.
 */
function takeFieldsFromQuery(request: FastifyRequest, _reply: FastifyReply, done: HookHandlerDoneFunction): void {
  const body = request.body as Record<string, unknown> | undefined | null
  const query = request.query as Record<string, unknown>
  if (body === undefined || body === null) {
    request.body = { ...query }
  } else if (hasKeys(query) && request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
    request.body = { ...query, ...body }
  }
  done()
}

function hasKeys(object: Record<string, unknown>): boolean {
  for (const _ in object) return true
  return false
}

export default fp(sendRoutes, {
  fastify: '5.x',
  name: 'pusher-send-routes',
  dependencies: ['pusher-auth', 'pusher-bus', 'pusher-store'],
  encapsulate: true,
})
