// The hub's Prometheus metrics; topics and the store have theirs beside it
// (topic-metrics.ts, store-metrics.ts). Counters and gauges read the hub's plain-number
// stats at scrape time (collect), so the send path pays for one integer increment, not a
// prom-client call; histograms are plain-number FastHistograms (histogram.ts).
import { Counter, Gauge, type Registry } from 'prom-client'
import type { AuthFailureReason } from '../auth/failures.js'
import type { RefusalReason } from '../limits/refusals.js'
import type { DisconnectReason } from '../hub/connection.js'
import { FastHistogram } from './histogram.js'
import type { Hub } from '../hub/hub.js'
import { type Bus, isClusterBus } from '../bus/bus.js'
import type { Readiness } from '../health/readiness.js'
import type { WebhookStats } from '../webhooks/sender.js'

// From 100 µs (a write on loopback) to 2.5 s (a consumer about to be cut off).
export const LATENCY_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5]

export function registerHubMetrics(
  registry: Registry,
  hub: Hub,
  bus: Bus,
  authFailures: Record<AuthFailureReason | 'api_key', number>,
  refused: Record<RefusalReason, number>,
): void {
  const registers = [registry]
  const { stats } = hub

  // The Go original's two gauges, same names and meaning, so existing dashboards keep working.
  new Gauge({
    name: 'connections',
    help: 'Open WebSocket connections on this node (go-pusher compatible)',
    registers,
    collect() { this.set(hub.connectionCount) },
  })
  new Gauge({
    name: 'pending',
    help: 'Messages handed to sockets and not yet written (go-pusher compatible)',
    registers,
    collect() { this.set(hub.pending) },
  })

  new Gauge({
    name: 'pusher_users_online',
    help: 'Users with at least one open connection on this node',
    registers,
    collect() { this.set(hub.userCount) },
  })
  new Counter({
    name: 'pusher_connections_opened_total',
    help: 'WebSocket connections accepted',
    registers,
    collect() { setCounter(this, stats.connectionsOpened) },
  })
  new Counter({
    name: 'pusher_disconnects_total',
    help: 'Connections ended, by reason (client_closed, slow_consumer, heartbeat_timeout, shutdown, protocol_error, token_expired, frame_flood, kicked, revoked, refresh_refused)',
    labelNames: ['reason'],
    registers,
    collect() { setCounters(this, 'reason', stats.disconnects satisfies Record<DisconnectReason, number>) },
  })
  new Counter({
    name: 'pusher_token_refreshes_total',
    help: 'In-band token refreshes of framed clients, by outcome: ok (the connection now lasts until the new token expires) or refused (closed with 4005: a bad or expired token, one for another user, or refresh not supported)',
    labelNames: ['outcome'],
    registers,
    collect() { setCounters(this, 'outcome', stats.refreshes) },
  })
  new Counter({
    name: 'pusher_frames_total',
    help: 'Frames handed to sockets whose write finished, by outcome: written or failed (socket gone mid-write)',
    labelNames: ['outcome'],
    registers,
    collect() { setCounters(this, 'outcome', { written: stats.framesWritten, failed: stats.framesFailed }) },
  })
  new Counter({
    name: 'pusher_auth_failures_total',
    help: 'Refused connections by reason, and senders refused for a missing or unknown API key (reason="api_key")',
    labelNames: ['reason'],
    registers,
    collect() { setCounters(this, 'reason', authFailures) },
  })

  new Counter({
    name: 'pusher_refused_total',
    help: 'Connections and requests turned away by a default limit, by reason: connection_cap (503, PUSHER_MAX_CONNECTIONS), user_cap (429, PUSHER_MAX_CONNECTIONS_PER_USER), rate (429, too many authentication failures from one address), send_rate (429, per-API-key send limit), origin (403, PUSHER_ALLOWED_ORIGINS), timeout (408, request head or body too slow), shed (idle connection closed to make room), frame_flood (1008, too many inbound frames), topic_invalid, topic_forbidden, topic_limit and topic_rate (a framed client\'s subscribe answered with an error frame)',
    labelNames: ['reason'],
    registers,
    collect() { setCounters(this, 'reason', refused) },
  })

  registerBusMetrics(registry, bus)

  const latency = new FastHistogram(
    'pusher_delivery_latency_seconds',
    'Time from a send reaching the hub to its frame being written to the socket',
    LATENCY_BUCKETS,
    registry,
  ).labels()
  hub.recordLatency = (seconds) => latency.observe(seconds)
}

/** Webhooks to the backend, registered only when they are on: this node's deliveries and its queue. */
export function registerWebhookMetrics(registry: Registry, webhooks: { stats: WebhookStats; queueLength: number }): void {
  const registers = [registry]
  const { stats } = webhooks
  new Counter({
    name: 'pusher_webhook_sent_total',
    help: 'Webhook events this node delivered (the receiver answered 2xx), by type',
    labelNames: ['type'],
    registers,
    collect() { setCounters(this, 'type', stats.sent) },
  })
  new Counter({
    name: 'pusher_webhook_failed_total',
    help: 'Webhook delivery attempts that failed (another status, a timeout, no connection), by event type; each is retried until the event is given up',
    labelNames: ['type'],
    registers,
    collect() { setCounters(this, 'type', stats.failed) },
  })
  new Counter({
    name: 'pusher_webhook_dropped_total',
    help: 'Webhook events never delivered, by event type and reason: queue_full (PUSHER_WEBHOOK_MAX_QUEUE reached), gave_up (PUSHER_WEBHOOK_MAX_ATTEMPTS or PUSHER_WEBHOOK_MAX_AGE_S reached), shutdown (still queued when the shutdown timeout ran out)',
    labelNames: ['type', 'reason'],
    registers,
    collect() {
      this.reset()
      for (const [reason, byType] of Object.entries(stats.dropped)) {
        for (const [type, count] of Object.entries(byType)) this.inc({ type, reason }, count)
      }
    },
  })
  new Gauge({
    name: 'pusher_webhook_queue_length',
    help: 'Webhook events this node holds: waiting for a first attempt, for a retry, or in flight',
    registers,
    collect() { this.set(webhooks.queueLength) },
  })
}

/** pusher_ready: GET /ready's answer as a number, checked at scrape time (the store probe is cached for a second). */
export function registerReadinessMetric(registry: Registry, readiness: Readiness): void {
  new Gauge({
    name: 'pusher_ready',
    help: '1 while this node can deliver (GET /ready answers 200), 0 while a readiness check fails: shutting down, Redis link or relay subscription down (cluster mode), store unable to write',
    registers: [registry],
    async collect() {
      this.set((await readiness.check()).ready ? 1 : 0)
    },
  })
}

// The buckets fastify-metrics would use, from half a millisecond to five seconds.
export const HTTP_BUCKETS = [0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5]

/** HTTP request durations by method, route and status, under fastify-metrics' name and labels. */
export function httpDurationHistogram(registry: Registry): FastHistogram {
  return new FastHistogram('http_request_duration_seconds', 'request duration in seconds', HTTP_BUCKETS, registry)
}

/** Sets a counter to a total kept elsewhere (a plain-number stat), at scrape time. */
export function setCounter(counter: Counter, value: number): void {
  counter.reset()
  counter.inc(value)
}

/** setCounter for each label value of `values`. */
export function setCounters<L extends string>(counter: Counter<L>, label: L, values: Record<string, number>): void {
  counter.reset()
  for (const [key, value] of Object.entries(values)) counter.inc({ [label]: key } as Record<L, string>, value)
}

/** Sender-level outcomes, and in cluster mode the Redis link and the whole cluster's numbers. */
function registerBusMetrics(registry: Registry, bus: Bus): void {
  const registers = [registry]
  const { stats } = bus
  new Counter({
    name: 'pusher_messages_total',
    help: 'Messages sent to a user (unicast and batch items), by outcome: delivered (to at least one connection), offline (no connection anywhere), unavailable (503: the cluster could not be reached)',
    labelNames: ['outcome'],
    registers,
    collect() {
      setCounters(this, 'outcome', { delivered: stats.messagesDelivered, offline: stats.messagesOffline, unavailable: stats.messagesUnavailable })
    },
  })
  new Counter({
    name: 'pusher_broadcasts_total',
    help: 'Broadcast messages sent to every connection',
    registers,
    collect() { setCounter(this, stats.broadcasts) },
  })
  new Counter({
    name: 'pusher_session_requests_total',
    help: 'Session control asked of this node, by action: presence (users looked up), disconnect (kicks), revoke (revocations). The connections they closed are in pusher_disconnects_total{reason="kicked"|"revoked"}',
    labelNames: ['action'],
    registers,
    collect() { setCounters(this, 'action', stats.sessions) },
  })
  new Gauge({
    name: 'pusher_revocations',
    help: 'Revocations in force that this node checks connections against',
    registers,
    collect() { this.set(bus.revocations.size) },
  })
  if (!isClusterBus(bus)) return

  new Gauge({
    name: 'pusher_redis_up',
    help: '1 while this node\'s command connection to Redis is ready, 0 while it reconnects',
    registers,
    collect() { this.set(bus.redisUp ? 1 : 0) },
  })
  new Counter({
    name: 'pusher_redis_reconnects_total',
    help: 'Times this node\'s command connection to Redis had to reconnect',
    registers,
    collect() { setCounter(this, bus.relay.reconnects) },
  })
  new Counter({
    name: 'pusher_relayed_total',
    help: 'Payloads relayed through Redis, by direction: out (published to other nodes) or in (received from them)',
    labelNames: ['direction'],
    registers,
    collect() { setCounters(this, 'direction', { out: bus.relay.relayedOut, in: bus.relay.relayedIn }) },
  })
  const cluster = (field: 'nodes' | 'connections' | 'users', name: string, help: string) =>
    new Gauge({ name, help, registers, collect() { this.set(bus.cluster()[field]) } })
  cluster('nodes', 'pusher_cluster_nodes', 'Nodes holding a lease in Redis, as of this node\'s last renewal')
  cluster('connections', 'pusher_cluster_connections', 'Open connections on all nodes, as of this node\'s last lease renewal')
  cluster('users', 'pusher_cluster_users_online', 'Users with a connection on any node, as of this node\'s last lease renewal')
}
