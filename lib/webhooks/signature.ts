// How a receiver knows a webhook came from the hub and is fresh: HMAC-SHA256, keyed with
// the shared secret, over `${timestamp}.${body}`, sent as `Pusher-Webhook-Signature:
// v1=<hex>` next to `Pusher-Webhook-Timestamp` (seconds since the epoch). The timestamp
// is inside the signed bytes, so a captured request cannot be replayed later with a new
// one, and a receiver refuses timestamps outside its tolerance. Each attempt is signed
// again, so retries carry a fresh timestamp.
import { createHmac, timingSafeEqual } from 'node:crypto'

/** The headers every webhook request carries (lower case, as Node presents them). */
export const WEBHOOK_HEADERS = {
  id: 'pusher-webhook-id',
  timestamp: 'pusher-webhook-timestamp',
  signature: 'pusher-webhook-signature',
} as const

/** How far a timestamp may be from the receiver's clock, either way, by default. */
export const DEFAULT_TOLERANCE_SECONDS = 300

const SCHEME = 'v1='

type Bytes = string | Uint8Array

function hmac(secret: string, timestamp: string, body: Bytes): Buffer {
  return createHmac('sha256', secret).update(`${timestamp}.`).update(body).digest()
}

/** The signature header's value for `body` sent at `timestamp` (seconds since the epoch). */
export function signWebhook(secret: string, timestamp: number, body: Bytes): string {
  return `${SCHEME}${hmac(secret, String(timestamp), body).toString('hex')}`
}

/** Node's request.headers, a fetch Headers object, or any map of header names (any case) to values. */
export type WebhookHeaders = { get(name: string): string | null } | Record<string, string | string[] | undefined>

export interface VerifyWebhookInput {
  /** The raw request body, byte for byte as received: parsing and re-serialising the JSON breaks the signature. */
  body: Bytes
  headers: WebhookHeaders
  /** The shared secret; during a rotation, the old and the new one. */
  secret: string | string[]
  /** How far the timestamp may be from now, either way (default 300). */
  toleranceSeconds?: number
  /** The receiver's clock in ms since the epoch (default Date.now()). */
  now?: number
}

function header(headers: WebhookHeaders, name: string): string | undefined {
  if (typeof headers.get === 'function') return (headers as { get(name: string): string | null }).get(name) ?? undefined
  const map = headers as Record<string, string | string[] | undefined>
  let value = map[name]
  if (value === undefined) {
    const key = Object.keys(map).find((k) => k.toLowerCase() === name)
    value = key === undefined ? undefined : map[key]
  }
  return Array.isArray(value) ? value.join(' ') : value
}

/**
 * True when the request carries a valid signature of `body` by `secret` with a timestamp
 * within the tolerance; false for anything else (a header missing or malformed, a wrong
 * secret, a changed body, a stale or future timestamp). Signatures are compared in
 * constant time.
 */
export function verifyWebhook({ body, headers, secret, toleranceSeconds = DEFAULT_TOLERANCE_SECONDS, now = Date.now() }: VerifyWebhookInput): boolean {
  const timestamp = header(headers, WEBHOOK_HEADERS.timestamp)?.trim()
  const signatures = header(headers, WEBHOOK_HEADERS.signature)
  if (timestamp === undefined || signatures === undefined || !/^\d{1,15}$/.test(timestamp)) return false
  if (Math.abs(now / 1000 - Number(timestamp)) > toleranceSeconds) return false
  // Several `v1=` entries may be sent (space or comma separated); any valid one will do.
  const offered = signatures.split(/[\s,]+/)
    .filter((entry) => entry.startsWith(SCHEME) && /^[0-9a-f]{64}$/i.test(entry.slice(SCHEME.length)))
    .map((entry) => Buffer.from(entry.slice(SCHEME.length), 'hex'))
  if (offered.length === 0) return false
  let valid = false
  for (const key of Array.isArray(secret) ? secret : [secret]) {
    if (key === '') continue
    const expected = hmac(key, timestamp, body)
    // No early exit: every comparison is made, whichever one matches.
    for (const signature of offered) if (timingSafeEqual(signature, expected)) valid = true
  }
  return valid
}
