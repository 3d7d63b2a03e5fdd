// fastify-pusher: the whole push hub as one Fastify plugin.
//
//   await app.register(pusher, { jwt: { secret }, apiKeys: [key], prefix: '/push' })
//   await app.bus.send(uid, 'hello')
//
// `options` holds the server options of the standalone server (bin/pusher-hub.ts, npm
// start); fastify-cli's `fastify start --options` reads them too. Options not given
// fall back to environment variables (docs/configuration.md).
import type { Server } from 'node:http'
import { type FastifyHttpOptions, type FastifyInstance, LogController } from 'fastify'
import fp from 'fastify-plugin'
import { type PusherConfigInput, resolveConfig, resolveTrustProxy } from './lib/config/config.js'
import { devBanner } from './lib/config/dev-banner.js'
import busPlugin from './plugins/bus.js'
import storePlugin from './plugins/store.js'
import webhooksPlugin from './plugins/webhooks.js'
import authPlugin, { type AuthenticateFn, type Authenticator, type AuthorizeTopicFn } from './plugins/auth.js'
import hubPlugin from './plugins/hub.js'
import limitsPlugin from './plugins/limits.js'
import metricsPlugin from './plugins/metrics.js'
import healthPlugin from './plugins/health.js'
import openapiPlugin from './plugins/openapi.js'
import healthRoutes from './routes/health.js'
import openapiRoute from './routes/openapi.js'
import { ErrorBody } from './routes/error-schema.js'
import sendRoutes from './routes/send.js'
import sessionRoutes from './routes/sessions.js'
import topicRoutes from './routes/topics.js'
import wsRoute from './routes/ws.js'

// Every plugin that decorates the instance is named here, type-only: that keeps its
// `declare module 'fastify'` in the shipped app.d.ts, so that a consumer's app.bus,
// app.hub, app.store and request.uid type-check from `import pusher from 'fastify-pusher'`.
export type { AuthenticateFn, Authenticator, AuthorizeTopicFn, Identity, AuthPluginOptions } from './plugins/auth.js'
export type { BusPluginOptions } from './plugins/bus.js'
export type { HubPluginOptions } from './plugins/hub.js'
export type { LimitsPluginOptions, PusherLimits } from './plugins/limits.js'
export type { StorePluginOptions } from './plugins/store.js'
export type { WebhooksPluginOptions } from './plugins/webhooks.js'
export type { BatchDelivery, BatchMessage, Bus, ClusterView, Delivery, Disconnection, OutgoingMessage, PublishBatchDelivery, RevocationResult, SendOptions, TopicChangeResult, TopicInfo, UserPresence } from './lib/bus/bus.js'
export type { Revocation, Revocations } from './lib/auth/revocations.js'
export type { MessageStore, StoredMessage, MessageStatus } from './lib/store/store.js'
export type { MessageMeta } from './lib/hub/envelope.js'
export type { HubEvents, HubOptions, HubStats, TopicAuthorizer, TopicChange, TopicRefusal } from './lib/hub/hub-types.js'
export type { RefusalReason } from './lib/limits/refusals.js'
export type { JwtAlgorithm, JwtOptions } from './lib/config/config.js'
export { CloseCode } from './lib/hub/close-codes.js'
export { PusherError } from './lib/errors.js'
export { Hub } from './lib/hub/hub.js'
export type { Connection, DisconnectReason } from './lib/hub/connection.js'
// Receivers check webhooks with these (docs/webhooks.md).
export { signWebhook, verifyWebhook, WEBHOOK_HEADERS, type VerifyWebhookInput, type WebhookHeaders } from './lib/webhooks/signature.js'
export type { WebhookEvent, WebhookEventType, WebhookMessageData } from './lib/webhooks/events.js'
export type { Webhooks } from './lib/webhooks/webhooks.js'
export type { WebhookStats } from './lib/webhooks/sender.js'

export interface PusherOptions extends PusherConfigInput {
  /** Mounts every route under this path, e.g. '/push' gives '/push/ws', '/push/send'. */
  prefix?: string
  /** Replaces JWT authentication of connecting clients. */
  authenticator?: Authenticator | AuthenticateFn
  /** Decides framed clients' topic subscriptions, in place of topic tokens (docs/topics.md). */
  authorizeTopic?: AuthorizeTopicFn
}

async function pusher(fastify: FastifyInstance, options: PusherOptions) {
  const customAuthenticator = options.authenticator !== undefined || fastify.hasDecorator('authenticator')
  const config = resolveConfig(options, customAuthenticator)
  for (const warning of config.warnings) fastify.log.warn(`fastify-pusher: ${warning}`)

  // Parts that the host app may use (app.authenticator, app.hub, app.bus) live on its instance;
  // the rest is encapsulated so it cannot clash with the host's own plugins.
  await fastify.register(limitsPlugin, { config })
  await fastify.register(authPlugin, { config, authenticator: options.authenticator, authorizeTopic: options.authorizeTopic })
  await fastify.register(hubPlugin, { config })
  await fastify.register(busPlugin, { config })
  await fastify.register(storePlugin, { config })
  await fastify.register(webhooksPlugin, { config })
  await fastify.register(async function pusherRoutes(scope) {
    // The error body every route answers with, referred to by $ref ('ErrorBody#').
    scope.addSchema(ErrorBody)
    // The OpenAPI document first: it collects each route as it is declared.
    await scope.register(openapiPlugin, { config })
    await scope.register(healthPlugin)
    // Metrics next: the timing hooks only reach routes registered after it.
    await scope.register(metricsPlugin, { config })
    await scope.register(wsRoute, { config })
    await scope.register(sendRoutes, { config })
    await scope.register(sessionRoutes, { config })
    await scope.register(topicRoutes, { config })
    await scope.register(healthRoutes)
    await scope.register(openapiRoute)
  }, { prefix: options.prefix ?? '' })

  if (config.dev) {
    fastify.addHook('onListen', async function printDevBanner() {
      const address = this.server.address()
      const port = typeof address === 'object' && address !== null ? address.port : 3000
      process.stderr.write(devBanner(config, `http://127.0.0.1:${port}${options.prefix ?? ''}`))
    })
  }
}

export default fp(pusher, { fastify: '5.x', name: 'fastify-pusher' })

/**
 * A log line per request would cost more than the push itself, so request logging is
 * off; but turning it off in Fastify also silences the default handler's 5xx lines,
 * and those an operator needs. (4xx refusals are logged where they are decided.)
 */
class ServerErrorsOnly extends LogController {
  override defaultErrorLog(...[error, request, reply]: Parameters<LogController['defaultErrorLog']>): void {
    // The route's path, never the URL: a query string may hold a token or a message.
    if (reply.statusCode >= 500) {
      reply.log.error({ method: request.method, route: request.routeOptions.url, statusCode: reply.statusCode, address: request.ip, err: error }, error?.message)
    }
  }
}

/** Server options `fastify start --options` uses (npm start). */
export const options: FastifyHttpOptions<Server> = {
  logController: new ServerErrorsOnly({ disableRequestLogging: true }),
  // Fastify makes a pino child logger per request only to bind its reqId; with request
  // lines off that cost about 2% of a unicast send's CPU. Log lines carry uid and reason.
  childLoggerFactory: (logger) => logger,
  // Keep-alive sockets of senders are closed at shutdown instead of holding it open.
  forceCloseConnections: 'idle',
  // A uid in a path (/users/:uid), percent-encoded, may be longer than find-my-way's default 100.
  routerOptions: { maxParamLength: 8192 },
  // Node checks its request timeouts every 30 s unless told otherwise; the hub's are 10 s.
  http: { connectionsCheckingInterval: 1000 },
  // Behind a reverse proxy: request.ip is then the client's, for the per-address limits.
  trustProxy: resolveTrustProxy(process.env.PUSHER_TRUST_PROXY),
}
