// Decorates `fastify.pusherLimits`: what keeps hostile or broken clients from costing
// anyone but themselves. The connection guard watches the server's sockets (timeouts,
// idle sockets per address, descriptor pressure); the failure throttle answers 429 to an
// address that keeps presenting bad credentials; every refusal is counted by reason and
// logged, summarised past a few lines per interval. The routes apply the rest (origin,
// connection caps, frame limits) and report here.
import type { Server } from 'node:http'
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { PusherConfig } from '../lib/config/config.js'
import { ConnectionGuard } from '../lib/limits/connection-guard.js'
import { openDescriptors } from '../lib/limits/descriptors.js'
import { FailureThrottle } from '../lib/limits/failure-throttle.js'
import { Refusals } from '../lib/limits/refusals.js'

export interface PusherLimits {
  refusals: Refusals
  /** Authentication failures by client address (request.ip: the client's, with trustProxy). */
  failures: FailureThrottle
  guard: ConnectionGuard
}

declare module 'fastify' {
  interface FastifyInstance {
    pusherLimits: PusherLimits
  }
}

export interface LimitsPluginOptions {
  config: PusherConfig
}

/** Descriptors kept for what is not a client socket yet to open (Redis, SQLite, log files). */
const SPARE_DESCRIPTORS = 64
/** Descriptors PUSHER_MAX_CONNECTIONS should leave for senders and /metrics below that. */
const SENDER_ROOM = 32

// One guard per HTTP server, however many hubs a host app mounts on it.
const guards = new WeakMap<Server, ConnectionGuard>()

async function limitsPlugin(fastify: FastifyInstance, { config }: LimitsPluginOptions) {
  const refusals = new Refusals((fields, message) => fastify.log.info(fields, message))
  const failures = new FailureThrottle({ maxFailures: config.maxAuthFailuresPerMinute, windowMs: 60_000 })
  const server = fastify.server as Server
  let guard = guards.get(server)
  if (guard === undefined) {
    const limit = config.descriptorLimit
    // What is open now (stdio, the event loop's own, a host app's files) is not for sockets.
    const shedAt = limit === undefined ? Number.POSITIVE_INFINITY : limit - (openDescriptors() ?? 0) - SPARE_DESCRIPTORS
    if (config.maxConnections > shedAt - SENDER_ROOM) {
      fastify.log.warn(`fastify-pusher: PUSHER_MAX_CONNECTIONS (${config.maxConnections}) leaves less than ${SENDER_ROOM} of the ${limit} descriptors (ulimit -n) ` +
        'for senders, /metrics and Redis: near it, idle sender connections will be closed and new ones refused. Raise ulimit -n or lower PUSHER_MAX_CONNECTIONS')
    }
    guard = new ConnectionGuard({
      headersTimeoutMs: config.headersTimeoutMs,
      bodyTimeoutMs: config.bodyTimeoutMs,
      keepAliveTimeoutMs: config.keepAliveTimeoutMs,
      maxIdlePerAddress: config.maxIdleConnectionsPerAddress,
      shedAt,
      refusals,
      warn: (message) => fastify.log.warn(message),
    })
    guard.attach(server)
    guards.set(server, guard)
    const attached = guard
    fastify.addHook('onClose', async () => {
      attached.detach()
      guards.delete(server)
    })
  }
  fastify.addHook('onClose', async () => refusals.close())
  fastify.decorate('pusherLimits', { refusals, failures, guard })
}

export default fp(limitsPlugin, { fastify: '5.x', name: 'pusher-limits' })
