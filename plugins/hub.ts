// Puts the hub on the instance (`fastify.hub`). At shutdown the WebSocket route closes
// its connections (1001, bounded flush: Hub.close), once upgrades have stopped.
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
    } else if (reason === 'shutdown' && hub.connectionCount === 0) {
      fastify.log.info('every connection closed for shutdown')
    }
  })
}

export default fp(hubPlugin, { fastify: '5.x', name: 'pusher-hub' })
