// GET /metrics: fastify-metrics (HTTP route histograms, process metrics) plus the hub's
// own metrics, all in a registry of this instance's own, so two hubs in one process,
// or a host app with its own prom-client metrics, never collide.
import type { FastifyInstance, FastifyPluginCallback, FastifyReply, FastifyRequest, HookHandlerDoneFunction } from 'fastify'
import fp from 'fastify-plugin'
import fastifyMetricsModule, { type IMetricsPluginOptions } from 'fastify-metrics'
import * as promClient from 'prom-client'
import type { PusherConfig } from '../lib/config/config.js'
import type { HistogramSeries } from '../lib/metrics/histogram.js'
import { httpDurationHistogram, registerHubMetrics, registerReadinessMetric, registerWebhookMetrics } from '../lib/metrics/metrics.js'
import { registerStoreMetrics } from '../lib/metrics/store-metrics.js'
import { registerTopicMetrics } from '../lib/metrics/topic-metrics.js'

// fastify-metrics is CommonJS with `exports.default`; from ESM the plugin sits one level down.
const fastifyMetrics = (fastifyMetricsModule as unknown as { default: FastifyPluginCallback<Partial<IMetricsPluginOptions>> }).default

export interface MetricsPluginOptions {
  config: PusherConfig
}

async function metricsPlugin(fastify: FastifyInstance, { config }: MetricsPluginOptions) {
  if (config.metrics === false) return
  const registry = new promClient.Registry()
  // HTTP route durations: one onResponse hook per route, added as each route is declared
  // (every route, /metrics included, comes after this hook), so that recording needs
  // neither the per-request routeOptions object nor a label string.
  const durations = httpDurationHistogram(registry)
  fastify.addHook('onRoute', (routeOptions) => {
    const route = routeOptions.url
    const byMethod = new Map<string, Map<number, HistogramSeries>>()
    const recordDuration = (request: FastifyRequest, reply: FastifyReply, done: HookHandlerDoneFunction) => {
      const { method } = request
      const status = reply.statusCode
      let byStatus = byMethod.get(method)
      if (byStatus === undefined) byMethod.set(method, (byStatus = new Map()))
      let series = byStatus.get(status)
      if (series === undefined) byStatus.set(status, (series = durations.labels({ method, route, status_code: status })))
      series.observe(reply.elapsedTime / 1000)
      done()
    }
    const existing = routeOptions.onResponse
    routeOptions.onResponse = existing === undefined ? [recordDuration] : [existing, recordDuration].flat()
  })

  await fastify.register(fastifyMetrics, {
    // fastify-metrics serves `client.register`; hand it a client whose register is ours.
    promClient: { ...promClient, register: registry },
    // Route options rather than a path, for the schema: it puts /metrics in the OpenAPI document.
    endpoint: {
      url: config.metrics.endpoint,
      method: 'GET',
      logLevel: 'fatal',
      exposeHeadRoute: false,
      schema: {
        summary: 'Prometheus metrics of this node',
        description: 'The Prometheus text format: the hub\'s connections, pending writes, sends, topics, refusals, store and cluster metrics, HTTP durations and process metrics (docs/api.md lists them). Scrape every node: each counts only its own.',
        tags: ['operations'],
        security: [],
        response: { 200: { description: 'Prometheus text exposition format 0.0.4', content: { 'text/plain': { schema: { type: 'string' } } } } },
      },
      // fastify-metrics puts its own handler in place of this one.
      handler: () => {},
    },
    defaultMetrics: { enabled: config.metrics.defaultMetrics, register: registry },
    // Its per-route timing (a prom-client histogram observed per request) cost about 20 µs
    // of a unicast send's CPU in the benchmark; the hook above records the same metric
    // (name, labels, buckets) for a fraction of that.
    routeMetrics: { enabled: false },
  })
  // prom-client exports these gauges with a counter's `_total` suffix, which
  // `promtool check metrics` rejects; nodejs_active_handles etc. carry the same facts.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name)
  }
  registerHubMetrics(registry, fastify.hub, fastify.bus, fastify.authFailures, fastify.pusherLimits.refusals.counts)
  registerTopicMetrics(registry, fastify.hub, fastify.bus)
  registerReadinessMetric(registry, fastify.pusherReadiness)
  // Only with durable delivery on (PUSHER_DB, or cluster mode).
  if (fastify.store !== undefined) registerStoreMetrics(registry, fastify.store)
  // Only with webhooks on (PUSHER_WEBHOOK_URL).
  if (fastify.webhooks !== undefined) registerWebhookMetrics(registry, fastify.webhooks)
}

export default fp(metricsPlugin, { fastify: '5.x', name: 'pusher-metrics', dependencies: ['pusher-hub', 'pusher-bus', 'pusher-auth', 'pusher-store', 'pusher-limits', 'pusher-webhooks', 'pusher-health'] })
