// Whether this node can do its job now, check by check, for GET /ready and the
// pusher_ready gauge. Liveness (GET /health) only says the process answers; readiness
// says a message sent through this node will arrive: it is not shutting down, and in a
// cluster its link to Redis and its relay subscription are up, and a durable store, if
// there is one, can write. A node whose relay subscription silently died answers every
// send "offline" for the users of other nodes while looking alive: this is what turns
// it out of a balancer's rotation.
import { type Bus, isClusterBus } from '../bus/bus.js'
import { cachedProbe, type ProbeResult } from './cached-probe.js'

export type CheckName = 'shutdown' | 'redis' | 'relay' | 'store'

export interface CheckResult {
  ok: boolean
  /** Set when the check fails: what is wrong and what it breaks. */
  reason?: string
}

export interface ReadinessReport {
  ready: boolean
  /** Only the checks that apply to this node: redis and relay in cluster mode, store with a store. */
  checks: Partial<Record<CheckName, CheckResult>>
}

export interface ReadinessSources {
  hub: { readonly isClosing: boolean }
  bus: Bus
  /** The durable store, when one is configured. */
  store?: { checkWritable(): Promise<void> }
  /** How long a store probe's answer is reused (default 1 s). */
  storeProbeTtlMs?: number
  /** How long a store probe may take before the store counts as unable to write (default 2 s). */
  storeProbeTimeoutMs?: number
}

export class Readiness {
  /** Called when a check turns the node from ready to not ready or back; the plugin logs it. */
  onChange: (report: ReadinessReport) => void = () => {}

  private readonly probeStore: (() => Promise<ProbeResult>) | undefined
  private wasReady: boolean | undefined

  constructor(private readonly sources: ReadinessSources) {
    const { store } = sources
    this.probeStore = store === undefined
      ? undefined
      : cachedProbe(() => store.checkWritable(), { ttlMs: sources.storeProbeTtlMs ?? 1000, timeoutMs: sources.storeProbeTimeoutMs ?? 2000 })
  }

  async check(): Promise<ReadinessReport> {
    const { hub, bus } = this.sources
    const checks: ReadinessReport['checks'] = {}
    checks.shutdown = hub.isClosing
      ? fail('the hub is shutting down and closing its connections: send to and connect through another node')
      : PASS
    if (isClusterBus(bus)) {
      checks.redis = bus.redisUp
        ? PASS
        : fail('the command connection to Redis is down: sends to users of other nodes and broadcasts answer 503 until it is back')
      checks.relay = bus.subscriberUp
        ? PASS
        : fail(`this node is not subscribed to its relay channel in Redis: what other nodes send to its users is lost until it is (node ${bus.nodeId})`)
    }
    if (this.probeStore !== undefined) {
      const probe = await this.probeStore()
      checks.store = probe.ok
        ? PASS
        : fail(`the message store cannot write (${probe.reason}): durable sends answer 503 until it can`)
    }
    const ready = Object.values(checks).every((check) => check.ok)
    const report = { ready, checks }
    // A node is taken as ready until a check says otherwise, so one that starts unready is reported too.
    if (ready !== (this.wasReady ?? true)) this.onChange(report)
    this.wasReady = ready
    return report
  }
}

const PASS: CheckResult = Object.freeze({ ok: true })

function fail(reason: string): CheckResult {
  return { ok: false, reason }
}

/** The failing checks in one line: "redis: ...; relay: ...". */
export function failures(report: ReadinessReport): string {
  return Object.entries(report.checks)
    .filter(([, check]) => !check.ok)
    .map(([name, check]) => `${name}: ${check.reason}`)
    .join('; ')
}
