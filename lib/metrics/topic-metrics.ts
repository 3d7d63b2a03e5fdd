// Topic metrics: what this node's connections watch, the publishes made through it,
// and what reached its subscribers. Registered by the metrics plugin beside the hub's.
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Bus } from '../bus/bus.js'
import type { Hub } from '../hub/hub.js'
import { FastHistogram } from './histogram.js'
import { LATENCY_BUCKETS, setCounter, setCounters } from './metrics.js'

// One publish handed to every subscriber on a node: from 10 µs (a few subscribers) to 2.5 s.
export const FANOUT_BUCKETS = [0.00001, 0.000025, 0.00005, ...LATENCY_BUCKETS]

/**
 * Topics: what this node's connections watch, the publishes made through this node, and
 * what reached its subscribers. Read at scrape time like the hub's metrics; the fan-out
 * histogram is fed by hub.recordFanout, once per publish that had subscribers here.
 */
export function registerTopicMetrics(registry: Registry, hub: Hub, bus: Bus): void {
  const registers = [registry]
  new Gauge({
    name: 'pusher_topics',
    help: 'Topics with at least one subscribed connection on this node',
    registers,
    collect() { this.set(hub.topicCount) },
  })
  new Gauge({
    name: 'pusher_topic_subscriptions',
    help: 'Topic subscriptions on this node, one per connection and topic',
    registers,
    collect() { this.set(hub.subscriptionCount) },
  })
  new Counter({
    name: 'pusher_topic_publishes_total',
    help: 'Publishes to a topic made through this node (POST /publish, each message of a batch, app.bus.publish), by outcome: delivered (written to at least one subscriber, on any node), no_subscribers (nobody watched the topic: normal), unavailable (503: the cluster could not be reached)',
    labelNames: ['outcome'],
    registers,
    collect() { setCounters(this, 'outcome', bus.stats.publishes) },
  })
  new Counter({
    name: 'pusher_topic_deliveries_total',
    help: 'Topic messages written to subscribed connections of this node, whichever node they were published through',
    registers,
    collect() { setCounter(this, hub.stats.topics.delivered) },
  })
  new Counter({
    name: 'pusher_topic_history_replayed_total',
    help: 'Messages kept in a topic\'s history written to a framed subscriber of this node from the history: what it missed, on a subscribe with since, or a gap filled',
    registers,
    collect() { setCounter(this, hub.stats.topics.replayed) },
  })
  const fanout = new FastHistogram(
    'pusher_topic_fanout_seconds',
    'Time one publish took to hand its frame to every subscriber on this node (queued for writing; each write\'s own latency is in pusher_delivery_latency_seconds)',
    FANOUT_BUCKETS,
    registry,
  ).labels()
  hub.recordFanout = (seconds) => fanout.observe(seconds)
}
