// GET /openapi.json: the hub's HTTP API as an OpenAPI 3.1 document (plugins/openapi.ts
// builds it from the routes' own schemas and openapi-document.ts).
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { OPENAPI_DECORATOR } from '../plugins/openapi.js'

async function openapiRoute(fastify: FastifyInstance) {
  const document = fastify.getDecorator<() => object>(OPENAPI_DECORATOR)
  let text: string | undefined
  fastify.get('/openapi.json', {
    schema: {
      summary: 'This document',
      description: 'The hub\'s HTTP API as an OpenAPI 3.1 document, generated from the schemas the routes validate and answer with.',
      tags: ['operations'],
      security: [],
      response: { 200: { description: 'an OpenAPI 3.1.0 document', content: { 'application/json': { schema: { type: 'object' } } } } },
    },
  }, (_request, reply) => {
    // Built once, after every route is known (the server is ready before any request).
    text ??= JSON.stringify(document())
    reply.type('application/json; charset=utf-8').send(text)
  })
}

export default fp(openapiRoute, {
  fastify: '5.x',
  name: 'pusher-openapi-route',
  dependencies: ['pusher-openapi'],
  encapsulate: true,
})
