// Puts the hub on the instance (`fastify.hub`). At shutdown the WebSocket route closes
// its connections (1001, bounded flush: Hub.close), once upgrades have stopped.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { PusherConfig } from '../lib/config/config.js'
import { Hub } from '../lib/hub/hub.js'
import { onRawSocketFallback } from '../lib/hub/raw-socket.js'

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
    maxInboundFramesPerSecond: config.maxInboundFramesPerSecond,
    maxTopicsPerConnection: config.maxTopicsPerConnection,
    maxTopicLength: config.maxTopicLength,
    maxSubscribesPerSecond: config.maxSubscribesPerSecond,
  })
  fastify.decorate('hub', hub)
  onRawSocketFallback((message) => fastify.log.warn(message))
  // In-band token refresh: the auth plugin checks the tokens. Read once everything is
  // registered, in whichever order; without it the hub refuses refreshes as unsupported.
  fastify.addHook('onReady', async () => {
    if (fastify.hasDecorator('verifyRefresh')) hub.verifyRefresh = fastify.verifyRefresh ?? undefined
    if (fastify.hasDecorator('topicAuthorizer')) hub.authorizeTopic = fastify.topicAuthorizer ?? undefined
  })

  // Through the refusal log: a client can make the hub cut it off as often as it
  // reconnects, and each cut must not cost a log line.
  const { refusals } = fastify.pusherLimits
  hub.on('topicRefused', (connection, topic, reason) => {
    refusals.refuse(reason, connection.remoteAddress, `user ${JSON.stringify(connection.uid)}: subscribe to ${JSON.stringify(topic.slice(0, 200))} refused (${reason})`)
  })
  hub.on('disconnect', (connection, reason) => {
    if (reason === 'frame_flood') {
      refusals.refuse('frame_flood', connection.remoteAddress,
        `user ${JSON.stringify(connection.uid)} sent frames faster than ${config.maxInboundFramesPerSecond} a second: closed with 1008`)
    } else if (reason === 'refresh_refused') {
      refusals.log(reason, connection.remoteAddress, `connection of user ${JSON.stringify(connection.uid)} closed with 4005: token refresh refused`)
    } else if (reason === 'slow_consumer' || reason === 'heartbeat_timeout') {
      refusals.log(reason, connection.remoteAddress, `connection of user ${JSON.stringify(connection.uid)} dropped: ${reason}`)
    } else if (reason === 'shutdown' && hub.connectionCount === 0) {
      fastify.log.info('every connection closed for shutdown')
    }
  })
}

export default fp(hubPlugin, { fastify: '5.x', name: 'pusher-hub', dependencies: ['pusher-limits'] })
