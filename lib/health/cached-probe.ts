// A probe that costs something (a store write) behind a short cache: load balancers,
// orchestrators and Prometheus may all ask for readiness every second or more, and
// however often they ask, the store is written at most once per `ttlMs`. Concurrent
// asks share the probe in flight, and a probe that hangs counts as failed after `timeoutMs`.

export type ProbeResult = { ok: true } | { ok: false; reason: string }

export interface CachedProbeOptions {
  /** How long an answer (either answer) is reused. */
  ttlMs: number
  /** How long a probe may take before it counts as failed. */
  timeoutMs: number
  now?: () => number
}

export function cachedProbe(probe: () => Promise<void>, { ttlMs, timeoutMs, now = Date.now }: CachedProbeOptions): () => Promise<ProbeResult> {
  let last: { result: ProbeResult; at: number } | undefined
  let inFlight: Promise<ProbeResult> | undefined

  const run = async (): Promise<ProbeResult> => {
    let timer: NodeJS.Timeout | undefined
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    })
    try {
      await Promise.race([probe(), timeout])
      return { ok: true }
    } catch (error) {
      return { ok: false, reason: (error as Error).message }
    } finally {
      clearTimeout(timer)
    }
  }

  return () => {
    if (last !== undefined && now() - last.at < ttlMs) return Promise.resolve(last.result)
    inFlight ??= run().then((result) => {
      last = { result, at: now() }
      inFlight = undefined
      return result
    })
    return inFlight
  }
}
