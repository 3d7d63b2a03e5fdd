#!/usr/bin/env node
// The standalone hub (`npm start`, the Docker image, `npx pusher-hub`): the suite on a
// Fastify server of its own, configured by environment variables (docs/configuration.md).
// A configuration problem prints one line saying what to set and exits 1; SIGTERM and
// SIGINT close the hub (clients get 1001) within FASTIFY_CLOSE_GRACE_DELAY.
import { existsSync } from 'node:fs'
import closeWithGrace from 'close-with-grace'
import Fastify from 'fastify'
import pusher, { options } from '../app.js'
import { PusherError } from '../lib/errors.js'
import { routePath } from '../lib/limits/connection-guard.js'

// A .env file in the working directory fills in what the environment leaves unset.
if (existsSync('.env')) process.loadEnvFile('.env')

const env = process.env
const port = Number(env.PORT ?? 3000)
const host = env.FASTIFY_ADDRESS ?? 'localhost'
const graceMs = Number(env.FASTIFY_CLOSE_GRACE_DELAY ?? 10_000)

const app = Fastify({ ...options, logger: { level: env.FASTIFY_LOG_LEVEL ?? 'info' } })
// Every answer of the hub has a `code`; an unknown route's too (a host app that embeds
// the suite keeps its own 404s).
app.setNotFoundHandler((request, reply) => {
  reply.code(404).send(new PusherError.ROUTE_NOT_FOUND(request.method, routePath(request.url)))
})
try {
  await app.register(pusher, { prefix: env.FASTIFY_PREFIX })
  await app.listen({ port, host })
} catch (error) {
  // What an operator can fix (a missing secret, a malformed variable, a port in use) is
  // a sentence, not a stack trace.
  const { code, message } = error as { code?: string; message: string }
  process.stderr.write(code === 'PUSHER_ERR_CONFIG' || code === 'EADDRINUSE' || code === 'EACCES' ? `${message}\n` : `${(error as Error).stack}\n`)
  process.exit(1)
}

closeWithGrace({ delay: graceMs }, async ({ err }) => {
  if (err !== undefined) app.log.error({ err }, 'shutting down after an uncaught error')
  await app.close()
})
