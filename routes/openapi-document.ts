// What the OpenAPI document says beyond the routes' own schemas: its title and version,
// the tags, and the security schemes the routes name (plugins/openapi.ts builds the rest).
import { readFileSync } from 'node:fs'
import type { FastifyDynamicSwaggerOptions } from '@fastify/swagger'

/** The document's fixed parts. Every operation needs the API key unless its schema says `security: []` or names another scheme. */
export function documentBase(): NonNullable<FastifyDynamicSwaggerOptions['openapi']> {
  return {
    openapi: '3.1.0',
    info: {
      title: 'fastify-pusher',
      version: packageVersion(),
      description: 'A real-time push hub: backend services push messages to users over HTTP (an API key), and each user\'s browser tabs and apps receive them over a WebSocket (GET /ws, a JWT). Every error answers the ErrorBody shape.',
      license: { name: 'MIT', identifier: 'MIT' },
    },
    tags: [
      { name: 'senders', description: 'Push messages to users; every route needs an API key' },
      { name: 'sessions', description: 'Who is online; close a user\'s connections, revoke their tokens; every route needs an API key' },
      { name: 'topics', description: 'Publish to whoever watches a topic; subscribe a user\'s connections to topics; every route needs an API key' },
      { name: 'clients', description: 'Connect a user\'s device (WebSocket)' },
      { name: 'operations', description: 'Probes, metrics and this document; no API key' },
    ],
    components: {
      securitySchemes: {
        apiKey: {
          type: 'http', scheme: 'bearer',
          description: 'A sender API key, one of PUSHER_API_KEY: "Authorization: Bearer <key>" (the scheme in any case)',
        },
        clientToken: {
          type: 'http', scheme: 'bearer', bearerFormat: 'JWT',
          description: 'The user\'s JWT in "Authorization: Bearer <jwt>", or, from a browser, as the WebSocket subprotocol "bearer.<jwt>" next to "pusher.v1"',
        },
        clientTokenQuery: {
          type: 'apiKey', in: 'query', name: 'token',
          description: 'The user\'s JWT as ?token=<jwt> (go-pusher clients)',
        },
      },
    },
    security: [{ apiKey: [] }],
  }
}

/** The package's version, from package.json next to the sources (tsx) or above dist/ (built). */
function packageVersion(): string {
  for (const path of ['../package.json', '../../package.json']) {
    try {
      const pkg = JSON.parse(readFileSync(new URL(path, import.meta.url), 'utf8')) as { name?: string; version?: string }
      if (pkg.name === 'fastify-pusher' && pkg.version !== undefined) return pkg.version
    } catch {}
  }
  return '0.0.0'
}
