// Decorates `fastify.bus`: how sends reach every connection of a user. One process:
// the in-memory bus over the local hub. With REDIS_URL (or the `redis` option): the
// Redis bus, which joins this node to the cluster; its code is only loaded then.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import type { Bus } from '../lib/bus/bus.js'
import { MemoryBus } from '../lib/bus/memory.js'
import type { PusherConfig } from '../lib/config/config.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Sends across the whole cluster (app.hub reaches this node's connections only). */
    bus: Bus
  }
}

export interface BusPluginOptions {
  config: PusherConfig
}

async function busPlugin(fastify: FastifyInstance, { config }: BusPluginOptions) {
  const cluster = config.cluster
  // The bus keeps the revocations the connect check reads (app.revocations) the same on every node.
  const busOptions = { maxUidLength: config.maxUidLength, maxTopicLength: config.maxTopicLength, revocations: fastify.revocations, revocationTtlMs: config.revocationTtlSeconds * 1000 }
  if (cluster === undefined) {
    fastify.decorate('bus', new MemoryBus(fastify.hub, busOptions))
    return
  }
  const { RedisBus } = await import('../lib/bus/redis.js')
  const bus = new RedisBus(fastify.hub, {
    ...busOptions,
    redis: cluster.connection,
    prefix: cluster.prefix,
    nodeId: cluster.nodeId,
    leaseTtlMs: cluster.leaseTtlMs,
    log: { info: (message) => fastify.log.info(message), warn: (message) => fastify.log.warn(message) },
  })
  await bus.start()
  fastify.decorate('bus', bus)
  // onClose runs after the connections were closed (preClose): the node then leaves presence at once.
  fastify.addHook('onClose', () => bus.close())
}

export default fp(busPlugin, { fastify: '5.x', name: 'pusher-bus', dependencies: ['pusher-hub', 'pusher-auth'] })
