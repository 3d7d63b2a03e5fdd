// Webhooks to the backend: off unless a URL is set (PUSHER_WEBHOOK_URL, webhooks.url);
// then the secret they are signed with is required, never made up. Part of resolveConfig
// (config.ts), which passes the typed environment.
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from '../webhooks/events.js'
import { fail, splitList } from './util.js'

export interface WebhooksInput {
  /** Where events are POSTed (`PUSHER_WEBHOOK_URL`): http:// or https://. Unset: no webhooks. */
  url?: string
  /** Signs every request, HMAC-SHA256 (`PUSHER_WEBHOOK_SECRET`); required with a URL. */
  secret?: string
  /** Which events to send (`PUSHER_WEBHOOK_EVENTS`, comma-separated); default: all that apply. */
  events?: string | WebhookEventType[]
  /** How long a user must stay offline before user.offline (`PUSHER_WEBHOOK_OFFLINE_DELAY_MS`, 5000). */
  offlineDelayMs?: number
  /** message.unacked this many seconds after a durable message was stored (`PUSHER_WEBHOOK_UNACKED_AFTER_S`; 0, the default: off). */
  unackedAfterSeconds?: number
  /** Per request (`PUSHER_WEBHOOK_TIMEOUT_MS`, 10000). */
  timeoutMs?: number
  /** Requests in flight at once (`PUSHER_WEBHOOK_CONCURRENCY`, 8). */
  concurrency?: number
  /** Events held at once; past it new ones are dropped and counted (`PUSHER_WEBHOOK_MAX_QUEUE`, 10000). */
  maxQueue?: number
  /** Attempts per event before it is given up (`PUSHER_WEBHOOK_MAX_ATTEMPTS`, 10). */
  maxAttempts?: number
  /** No retry later than this after the event was queued (`PUSHER_WEBHOOK_MAX_AGE_S`, 900). */
  maxAgeSeconds?: number
  /** Upper bound of the first retry's delay, doubled per attempt up to 60 s (`PUSHER_WEBHOOK_RETRY_DELAY_MS`, 1000). */
  retryDelayMs?: number
}

/** The variables read here, as env-schema typed them. */
export interface WebhooksEnv {
  PUSHER_WEBHOOK_URL?: string
  PUSHER_WEBHOOK_SECRET?: string
  PUSHER_WEBHOOK_EVENTS?: string
  PUSHER_WEBHOOK_OFFLINE_DELAY_MS?: number
  PUSHER_WEBHOOK_UNACKED_AFTER_S?: number
  PUSHER_WEBHOOK_TIMEOUT_MS?: number
  PUSHER_WEBHOOK_CONCURRENCY?: number
  PUSHER_WEBHOOK_MAX_QUEUE?: number
  PUSHER_WEBHOOK_MAX_ATTEMPTS?: number
  PUSHER_WEBHOOK_MAX_AGE_S?: number
  PUSHER_WEBHOOK_RETRY_DELAY_MS?: number
}

export interface WebhooksConfig {
  url: string
  secret: string
  events: WebhookEventType[]
  offlineDelayMs: number
  /** 0: message.unacked is off. */
  unackedAfterMs: number
  timeoutMs: number
  concurrency: number
  maxQueue: number
  maxAttempts: number
  maxAgeMs: number
  retryDelayMs: number
}

export const DEFAULT_WEBHOOKS = {
  offlineDelayMs: 5000,
  // Off: plain (go-pusher) clients never acknowledge, so any default would report every
  // durable message they are sent; and how long "too long" is depends on the app.
  unackedAfterSeconds: 0,
  timeoutMs: 10_000,
  concurrency: 8,
  maxQueue: 10_000,
  maxAttempts: 10,
  maxAgeSeconds: 900,
  retryDelayMs: 1000,
} as const

const LOOPBACK = /^(localhost|127(\.\d+){3}|\[::1\])$/

/** A whole number from `min` to `max`, or a configuration error naming the option and the variable. */
function whole(value: number, min: number, max: number, option: string, variable: string): number {
  if (!Number.isInteger(value) || value < min || value > max) fail(`webhooks.${option} (${variable}) must be a whole number from ${min} to ${max}`)
  return value
}

export function resolveWebhooks(input: WebhooksInput | false | undefined, env: WebhooksEnv, warnings: string[], hasStore: boolean): WebhooksConfig | undefined {
  if (input === false) return undefined
  const options = input ?? {}
  const url = options.url ?? env.PUSHER_WEBHOOK_URL
  if (url === undefined || url === '') return undefined
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    return fail(`webhooks.url (PUSHER_WEBHOOK_URL) is not a URL: "${url.slice(0, 200)}"`)
  }
  if (parsed.protocol !== 'http:' && parsed.protocol !== 'https:') fail('webhooks.url (PUSHER_WEBHOOK_URL) must be an http:// or https:// URL')
  if (parsed.username !== '' || parsed.password !== '') {
    fail('webhooks.url (PUSHER_WEBHOOK_URL) must not hold a user or password: the signature (PUSHER_WEBHOOK_SECRET) proves who sends')
  }
  if (parsed.protocol === 'http:' && !LOOPBACK.test(parsed.hostname)) {
    warnings.push(`the webhook URL is plain http to ${parsed.host}: user ids travel unencrypted; use https`)
  }
  const secret = options.secret ?? env.PUSHER_WEBHOOK_SECRET
  if (secret === undefined || secret === '') {
    fail('a webhook URL is set but no secret: set PUSHER_WEBHOOK_SECRET (or webhooks.secret) to a long random string, e.g. `openssl rand -base64 32`; receivers verify each webhook with it')
  }
  if (secret!.length < 32) warnings.push('PUSHER_WEBHOOK_SECRET is shorter than 32 characters; use a long random secret')

  const unackedAfterSeconds = whole(options.unackedAfterSeconds ?? env.PUSHER_WEBHOOK_UNACKED_AFTER_S ?? DEFAULT_WEBHOOKS.unackedAfterSeconds,
    0, 2_592_000, 'unackedAfterSeconds', 'PUSHER_WEBHOOK_UNACKED_AFTER_S')
  const listed = splitList(options.events ?? env.PUSHER_WEBHOOK_EVENTS)
  for (const name of listed) {
    if (!(WEBHOOK_EVENT_TYPES as readonly string[]).includes(name)) {
      fail(`webhooks.events (PUSHER_WEBHOOK_EVENTS) names an unknown event "${name.slice(0, 100)}"; the events are ${WEBHOOK_EVENT_TYPES.join(', ')}`)
    }
  }
  if (listed.includes('message.unacked') && unackedAfterSeconds === 0) {
    fail('webhooks.events (PUSHER_WEBHOOK_EVENTS) asks for message.unacked: set after how many seconds with PUSHER_WEBHOOK_UNACKED_AFTER_S (webhooks.unackedAfterSeconds)')
  }
  const events = (listed.length > 0 ? [...new Set(listed)] : [...WEBHOOK_EVENT_TYPES]) as WebhookEventType[]
  const active = events.filter((event) => event !== 'message.unacked' || unackedAfterSeconds > 0)
  if (!hasStore && listed.some((event) => event.startsWith('message.'))) {
    warnings.push('message.* webhooks need durable delivery (PUSHER_DB, or cluster mode): without a store they never fire')
  }

  return {
    url,
    secret: secret!,
    events: active,
    offlineDelayMs: whole(options.offlineDelayMs ?? env.PUSHER_WEBHOOK_OFFLINE_DELAY_MS ?? DEFAULT_WEBHOOKS.offlineDelayMs,
      0, 3_600_000, 'offlineDelayMs', 'PUSHER_WEBHOOK_OFFLINE_DELAY_MS'),
    unackedAfterMs: active.includes('message.unacked') ? unackedAfterSeconds * 1000 : 0,
    timeoutMs: whole(options.timeoutMs ?? env.PUSHER_WEBHOOK_TIMEOUT_MS ?? DEFAULT_WEBHOOKS.timeoutMs, 100, 300_000, 'timeoutMs', 'PUSHER_WEBHOOK_TIMEOUT_MS'),
    concurrency: whole(options.concurrency ?? env.PUSHER_WEBHOOK_CONCURRENCY ?? DEFAULT_WEBHOOKS.concurrency, 1, 256, 'concurrency', 'PUSHER_WEBHOOK_CONCURRENCY'),
    maxQueue: whole(options.maxQueue ?? env.PUSHER_WEBHOOK_MAX_QUEUE ?? DEFAULT_WEBHOOKS.maxQueue, 1, 10_000_000, 'maxQueue', 'PUSHER_WEBHOOK_MAX_QUEUE'),
    maxAttempts: whole(options.maxAttempts ?? env.PUSHER_WEBHOOK_MAX_ATTEMPTS ?? DEFAULT_WEBHOOKS.maxAttempts, 1, 100, 'maxAttempts', 'PUSHER_WEBHOOK_MAX_ATTEMPTS'),
    maxAgeMs: whole(options.maxAgeSeconds ?? env.PUSHER_WEBHOOK_MAX_AGE_S ?? DEFAULT_WEBHOOKS.maxAgeSeconds, 1, 604_800, 'maxAgeSeconds', 'PUSHER_WEBHOOK_MAX_AGE_S') * 1000,
    retryDelayMs: whole(options.retryDelayMs ?? env.PUSHER_WEBHOOK_RETRY_DELAY_MS ?? DEFAULT_WEBHOOKS.retryDelayMs, 1, 600_000, 'retryDelayMs', 'PUSHER_WEBHOOK_RETRY_DELAY_MS'),
  }
}
