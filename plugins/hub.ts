// Puts the hub on the instance (`fastify.hub`) and ties its life to the server's:
// on close, every connection gets 1001 and a bounded time to flush before it is cut.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { PusherConfig } from '../lib/config.js'
import { Hub } from '../lib/hub.js'

declare module 'fastify' {
  interface FastifyInstance {
    hub: Hub
  }
}

export interface HubPluginOptions {
  config: PusherConfig
}

async function hubPlugin(fastify: FastifyInstance, { config }: HubPluginOptions) {
  const hub = new Hub({
    maxBufferedBytes: config.maxBufferedBytes,
    heartbeatIntervalMs: config.heartbeatIntervalMs,
    heartbeatTimeoutMs: config.heartbeatTimeoutMs,
  })
  fastify.decorate('hub', hub)

  hub.on('disconnect', (connection, reason) => {
    if (reason === 'slow_consumer' || reason === 'heartbeat_timeout') {
      fastify.log.warn({ uid: connection.uid, reason }, 'connection dropped')
    }
  })

  // preClose, not onClose: the HTTP server's close waits for upgraded sockets too, so
  // they must be closed before it, or shutdown would wait for every client to leave.
  fastify.addHook('preClose', async () => {
    const open = hub.connectionCount
    await hub.close(config.shutdownTimeoutMs)
    if (open > 0) fastify.log.info({ closed: open }, 'closed every connection with 1001')
  })
}

export default fp(hubPlugin, { fastify: '5.x', name: 'pusher-hub' })
