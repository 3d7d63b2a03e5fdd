// GET /metrics: fastify-metrics (HTTP route histograms, process metrics) plus the hub's
// own metrics, all in a registry of this instance's own, so two hubs in one process,
// or a host app with its own prom-client metrics, never collide.
import type { FastifyInstance, FastifyPluginCallback } from 'fastify'
import fp from 'fastify-plugin'
import fastifyMetricsModule, { type IMetricsPluginOptions } from 'fastify-metrics'
import * as promClient from 'prom-client'
import type { PusherConfig } from '../lib/config.js'
import { registerHubMetrics } from '../lib/metrics.js'

// fastify-metrics is CommonJS with `exports.default`; from ESM the plugin sits one level down.
const fastifyMetrics = (fastifyMetricsModule as unknown as { default: FastifyPluginCallback<Partial<IMetricsPluginOptions>> }).default

export interface MetricsPluginOptions {
  config: PusherConfig
}

async function metricsPlugin(fastify: FastifyInstance, { config }: MetricsPluginOptions) {
  if (config.metrics === false) return
  const registry = new promClient.Registry()
  const registers = [registry]
  await fastify.register(fastifyMetrics, {
    // fastify-metrics serves `client.register`; hand it a client whose register is ours.
    promClient: { ...promClient, register: registry },
    endpoint: config.metrics.endpoint,
    defaultMetrics: { enabled: config.metrics.defaultMetrics, register: registry },
    routeMetrics: {
      enabled: { histogram: true, summary: false },
      // fastify-metrics creates the summary even when it is off; keep it out of the global registry too.
      overrides: { histogram: { registers, buckets: [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5] }, summary: { registers } },
    },
  })
  registry.removeSingleMetric('http_request_summary_seconds')
  // prom-client exports these gauges with a counter's `_total` suffix, which
  // `promtool check metrics` rejects; nodejs_active_handles etc. carry the same facts.
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) {
    registry.removeSingleMetric(name)
  }
  registerHubMetrics(registry, fastify.hub, fastify.authFailures)
}

export default fp(metricsPlugin, { fastify: '5.x', name: 'pusher-metrics', dependencies: ['pusher-hub', 'pusher-auth'] })
