// Decorates `fastify.webhooks`: events POSTed to the backend (docs/webhooks.md), or
// undefined without PUSHER_WEBHOOK_URL. One node: presence comes from this process's
// hub; a cluster: from the presence scripts in Redis, so each event leaves one node.
// At shutdown it tries to deliver what is queued within the shutdown timeout.
import type { FastifyInstance } from 'fastify'
import fp from 'fastify-plugin'
import { isClusterBus } from '../lib/bus/bus.js'
import type { PusherConfig } from '../lib/config/config.js'
import { PusherError } from '../lib/errors.js'
import { ClusterPresenceFeed, LocalPresenceFeed, type PresenceFeed } from '../lib/webhooks/presence-feed.js'
import { WebhookSender } from '../lib/webhooks/sender.js'
import { Webhooks } from '../lib/webhooks/webhooks.js'

declare module 'fastify' {
  interface FastifyInstance {
    /** Webhooks to the backend; undefined without PUSHER_WEBHOOK_URL. */
    webhooks: Webhooks | undefined
  }
}

export interface WebhooksPluginOptions {
  config: PusherConfig
}

async function webhooksPlugin(fastify: FastifyInstance, { config }: WebhooksPluginOptions) {
  const settings = config.webhooks
  if (settings === undefined) {
    fastify.decorate('webhooks', undefined)
    return
  }
  const log = { info: (message: string) => fastify.log.info(message), warn: (message: string) => fastify.log.warn(message) }
  const sender = new WebhookSender({
    url: settings.url,
    secret: settings.secret,
    timeoutMs: settings.timeoutMs,
    concurrency: settings.concurrency,
    maxQueue: settings.maxQueue,
    maxAttempts: settings.maxAttempts,
    maxAgeMs: settings.maxAgeMs,
    retryDelayMs: settings.retryDelayMs,
    log,
  })
  const bus = fastify.bus
  let presence: PresenceFeed
  if (isClusterBus(bus)) {
    const { RedisBus } = await import('../lib/bus/redis.js')
    if (!(bus instanceof RedisBus)) throw new PusherError.CONFIG('webhooks in cluster mode need the Redis bus')
    presence = new ClusterPresenceFeed(bus.presence)
  } else {
    presence = new LocalPresenceFeed(fastify.hub)
  }
  const webhooks = new Webhooks({
    sender,
    presence,
    store: fastify.store,
    events: settings.events,
    offlineDelayMs: settings.offlineDelayMs,
    unackedAfterMs: settings.unackedAfterMs,
    ...log,
  })
  webhooks.start()
  fastify.decorate('webhooks', webhooks)
  // Runs before the store's and the bus's own (onClose hooks run last registered first),
  // after the WebSocket route closed every connection (preClose).
  fastify.addHook('onClose', () => webhooks.close(config.shutdownTimeoutMs))
}

export default fp(webhooksPlugin, { fastify: '5.x', name: 'pusher-webhooks', dependencies: ['pusher-hub', 'pusher-bus', 'pusher-store'] })
