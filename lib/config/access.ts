// Who may reach the hub, as configured: the origins of the pages allowed to open
// WebSockets, and the proxies whose X-Forwarded-For the hub believes.
import { fail, splitList } from './util.js'

/** Exact origins (scheme://host[:port]), as browsers send them in the Origin header. */
export function resolveOrigins(value: string | string[] | undefined): Set<string> | undefined {
  const origins = splitList(value)
  if (origins.length === 0) return undefined
  for (const origin of origins) {
    let parsed: URL | undefined
    try {
      parsed = new URL(origin)
    } catch {}
    if (parsed === undefined || parsed.origin !== origin) {
      fail(`allowed origin "${origin}" is not an exact origin: write scheme://host[:port] with no path or trailing slash, e.g. https://app.example.com`)
    }
  }
  return new Set(origins)
}

/**
 * PUSHER_TRUST_PROXY as Fastify's trustProxy: `true` (trust every hop: only when nothing
 * but the proxy can reach the hub), a number of hops, or the proxies' addresses and CIDRs.
 */
export function resolveTrustProxy(value: string | undefined): boolean | string | ((address: string, hop: number) => boolean) {
  if (value === undefined || value === '' || value === 'false') return false
  if (value === 'true') return true
  if (/^[0-9]+$/.test(value)) {
    const hops = Number(value)
    return (_address, hop) => hop < hops
  }
  return value
}
