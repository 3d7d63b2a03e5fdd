// The sender API: POST|GET /send, POST /send/batch, POST /broadcast. Every route needs
// an API key; bodies are JSON or form-encoded (go-pusher posted forms), and /send and
// /broadcast also take their fields from the query string as go-pusher did.
import formbody from '@fastify/formbody'
import { type TypeBoxTypeProvider, TypeBoxValidatorCompiler } from '@fastify/type-provider-typebox'
import type { FastifyInstance, FastifyRequest, FastifySchemaValidationError } from 'fastify'
import fp from 'fastify-plugin'
import type { PusherConfig } from '../lib/config.js'
import { PusherError } from '../lib/errors.js'
import { senderSchemas } from './schemas.js'

export interface SendRoutesOptions {
  config: PusherConfig
}

async function sendRoutes(instance: FastifyInstance, { config }: SendRoutesOptions) {
  const fastify = instance.withTypeProvider<TypeBoxTypeProvider>()
  await fastify.register(formbody)
  // TypeBox checks `additionalProperties: false` as written (Fastify's default Ajv would
  // strip unknown fields silently); the formatter names the offending fields.
  fastify.setValidatorCompiler(TypeBoxValidatorCompiler)
  fastify.setSchemaErrorFormatter(formatValidationErrors)
  fastify.addHook('onRequest', fastify.verifySender)

  const schemas = senderSchemas(config)
  const hub = fastify.hub
  // JSON may escape a character as \uXXXX (6 bytes); leave room for that and the uid.
  const bodyLimit = config.maxMessageBytes * 6 + config.maxUidLength * 6 + 1024

  /** The message as the frame it will be sent as, refused when it is over the limit. */
  const toFrame = (message: string): Buffer => {
    const frame = Buffer.from(message)
    if (frame.length > config.maxMessageBytes) throw new PusherError.MESSAGE_TOO_LARGE(frame.length, config.maxMessageBytes)
    return frame
  }

  const sendOne = ({ uid, message }: { uid: string; message: string }) => {
    const delivered = hub.send(uid, toFrame(message))
    if (delivered === 0) throw new PusherError.USER_OFFLINE(uid)
    return { delivered }
  }

  fastify.post('/send', {
    bodyLimit,
    preValidation: takeFieldsFromQuery,
    schema: { body: schemas.SendBody, querystring: schemas.SendQuery, response: { 200: schemas.Delivered } },
  }, async (request) => sendOne(request.body))

  fastify.get('/send', {
    schema: { querystring: schemas.SendBody, response: { 200: schemas.Delivered } },
  }, async (request) => sendOne(request.query))

  fastify.post('/send/batch', {
    bodyLimit: config.maxBatchBytes,
    schema: { body: schemas.BatchBody, response: { 200: schemas.BatchResult } },
  }, async (request) => {
    // Check every size first, so a batch is either refused whole or sent whole.
    const frames = request.body.messages.map(({ message }) => toFrame(message))
    let delivered = 0
    let offline = 0
    const results = request.body.messages.map(({ uid }, i) => {
      const count = hub.send(uid, frames[i]!)
      delivered += count
      if (count === 0) offline++
      return { uid, delivered: count }
    })
    return { delivered, offline, results }
  })

  fastify.post('/broadcast', {
    bodyLimit,
    preValidation: takeFieldsFromQuery,
    schema: { body: schemas.BroadcastBody, querystring: schemas.BroadcastQuery, response: { 200: schemas.Delivered } },
  }, async (request) => ({ delivered: hub.broadcast(toFrame(request.body.message)) }))
}

/**
 * go-pusher read `r.FormValue`, which merges query and form fields: a POST with no
 * body, or a form body, takes missing fields from the query string. JSON bodies stand
 * alone.
 */
async function takeFieldsFromQuery(request: FastifyRequest): Promise<void> {
  const body = request.body as Record<string, unknown> | undefined | null
  if (body === undefined || body === null) {
    request.body = { ...(request.query as object) }
  } else if (request.headers['content-type']?.startsWith('application/x-www-form-urlencoded')) {
    request.body = { ...(request.query as object), ...body }
  }
}

function formatValidationErrors(errors: FastifySchemaValidationError[], dataVar: string): Error {
  const sentences = errors
    // TypeBox reports an unknown field twice: once as "schema is false"; keep the clearer one.
    .filter((error) => error.message !== 'schema is false')
    .map((error) => {
      const where = `${dataVar}${error.instancePath.replaceAll('/', '.')}`
      const unknown = (error.params as { additionalProperties?: string[] }).additionalProperties
      return unknown ? `${where} has unknown field(s): ${unknown.join(', ')}` : `${where} ${error.message}`
    })
  return new Error(sentences.join('; '))
}

export default fp(sendRoutes, {
  fastify: '5.x',
  name: 'pusher-send-routes',
  dependencies: ['pusher-auth', 'pusher-hub'],
  encapsulate: true,
})
