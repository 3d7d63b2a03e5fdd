// Delivers webhook events: at least once while this process runs. Events wait in a
// bounded in-memory queue; a few requests go out at a time, each with a timeout; an
// answer other than 2xx (or none) is retried after an exponential, jittered delay, until
// the event has had maxAttempts attempts or would be retried later than maxAgeMs after it
// was queued. Whatever is dropped (queue full, given up, left at shutdown) is counted.
// The secret and the URL's path and query never reach a log line: only the origin does.
import { backoffDelay } from '../../client/backoff.js'
import { countsByType, type WebhookEvent, type WebhookEventType } from './events.js'
import { signWebhook, WEBHOOK_HEADERS } from './signature.js'

/** No retry waits longer than this (unless the first delay is set longer). */
export const MAX_RETRY_DELAY_MS = 60_000

/** Bytes of a receiver's answer read (and thrown away) so that its connection can be reused. */
const ANSWER_BYTES_READ = 64 * 1024

export interface WebhookRequest {
  url: string
  headers: Record<string, string>
  body: string
  signal: AbortSignal
}

/** Sends one request and resolves with the HTTP status; rejects when no answer came. */
export type WebhookTransport = (request: WebhookRequest) => Promise<number>

/** Node's global fetch (undici). Redirects are not followed: a 3xx is a failed attempt. */
export const fetchTransport: WebhookTransport = async ({ url, headers, body, signal }) => {
  const response = await fetch(url, { method: 'POST', headers, body, signal, redirect: 'manual' })
  if (response.body !== null) {
    let read = 0
    for await (const chunk of response.body) if ((read += chunk.byteLength) > ANSWER_BYTES_READ) break
  }
  return response.status
}

export type DropReason = 'queue_full' | 'gave_up' | 'shutdown'

export interface WebhookStats {
  /** Events a receiver answered with 2xx. */
  sent: Record<WebhookEventType, number>
  /** Attempts that failed: another status, a timeout, no connection. */
  failed: Record<WebhookEventType, number>
  /** Events never delivered, by why. */
  dropped: Record<DropReason, Record<WebhookEventType, number>>
}

export interface WebhookLog {
  info(message: string): void
  warn(message: string): void
}

export interface WebhookSenderOptions {
  url: string
  secret: string
  /** Per request, from sending to the status line. */
  timeoutMs: number
  /** Requests in flight at once. */
  concurrency: number
  /** Events held at once (waiting, retrying or in flight); past it new events are dropped. */
  maxQueue: number
  maxAttempts: number
  maxAgeMs: number
  /** Upper bound of the first retry's delay; it doubles per attempt, up to MAX_RETRY_DELAY_MS. */
  retryDelayMs: number
  log: WebhookLog
  transport?: WebhookTransport
  /** In [0, 1), like Math.random (tests pin it). */
  random?: () => number
}

interface Job {
  event: WebhookEvent
  body: string
  attempts: number
  queuedAt: number
  retryAt: number
  retryTimer: NodeJS.Timeout | undefined
  abort: AbortController | undefined
  /** Counted as dropped at shutdown while in flight: its late answer is ignored. */
  abandoned: boolean
}

export class WebhookSender {
  readonly stats: WebhookStats = {
    sent: countsByType(),
    failed: countsByType(),
    dropped: { queue_full: countsByType(), gave_up: countsByType(), shutdown: countsByType() },
  }

  private readonly ready: Job[] = []
  private readonly waiting = new Set<Job>()
  private readonly inFlight = new Set<Job>()
  private readonly transport: WebhookTransport
  private readonly random: () => number
  /** Only the origin: a path or query may hold a token. */
  private readonly origin: string
  private idleWaiters: Array<() => void> = []
  private closing: Promise<void> | undefined
  private deadline = Number.POSITIVE_INFINITY
  /** After close(): nothing more is sent. */
  private stopped = false
  private failing = false
  private failedSinceSuccess = 0
  private readonly dropsLogged = new Set<DropReason>()

  constructor(private readonly options: WebhookSenderOptions) {
    this.transport = options.transport ?? fetchTransport
    this.random = options.random ?? Math.random
    this.origin = new URL(options.url).origin
  }

  /** Events held: waiting for a first attempt, for a retry, or in flight. */
  get length(): number {
    return this.ready.length + this.waiting.size + this.inFlight.size
  }

  /** Events that can be queued before the bound is reached. */
  get room(): number {
    return Math.max(0, this.options.maxQueue - this.length)
  }

  /** Queues `event`; false (and counted as dropped) when the queue is full or closed. */
  enqueue(event: WebhookEvent): boolean {
    const job: Job = {
      event, body: JSON.stringify(event), attempts: 0, queuedAt: Date.now(),
      retryAt: 0, retryTimer: undefined, abort: undefined, abandoned: false,
    }
    if (this.stopped) {
      this.drop(job, 'shutdown')
      return false
    }
    if (this.length >= this.options.maxQueue) {
      this.drop(job, 'queue_full')
      return false
    }
    this.ready.push(job)
    this.pump()
    return true
  }

  /** Resolves once every queued event was delivered or dropped. */
  idle(): Promise<void> {
    if (this.length === 0) return Promise.resolve()
    return new Promise((resolve) => this.idleWaiters.push(resolve))
  }

  /**
   * Tries to deliver what is queued within `timeoutMs`: retries that would come later are
   * made at once, then whatever is left at the deadline is dropped (and in-flight requests
   * aborted). Events queued afterwards are dropped.
   */
  close(timeoutMs: number): Promise<void> {
    this.closing ??= this.flush(timeoutMs)
    return this.closing
  }

  private async flush(timeoutMs: number): Promise<void> {
    this.deadline = Date.now() + timeoutMs
    for (const job of this.waiting) {
      if (job.retryAt <= this.deadline) continue
      clearTimeout(job.retryTimer)
      this.waiting.delete(job)
      this.ready.push(job)
    }
    this.pump()
    if (this.length > 0) {
      let timer: NodeJS.Timeout | undefined
      await Promise.race([this.idle(), new Promise((resolve) => { timer = setTimeout(resolve, timeoutMs) })])
      clearTimeout(timer)
    }
    this.stopped = true
    const before = this.droppedAtShutdown()
    for (const job of this.ready.splice(0)) this.drop(job, 'shutdown')
    for (const job of this.waiting) {
      clearTimeout(job.retryTimer)
      this.drop(job, 'shutdown')
    }
    this.waiting.clear()
    for (const job of this.inFlight) {
      job.abandoned = true
      job.abort?.abort(new Error('shutting down'))
      this.drop(job, 'shutdown')
    }
    this.inFlight.clear()
    this.wakeIdle()
    const left = this.droppedAtShutdown() - before
    if (left > 0) this.options.log.warn(`${left} webhook events to ${this.origin} could not be delivered before shutdown and were dropped`)
  }

  private droppedAtShutdown(): number {
    return Object.values(this.stats.dropped.shutdown).reduce((sum, n) => sum + n, 0)
  }

  private pump(): void {
    while (!this.stopped && this.inFlight.size < this.options.concurrency && this.ready.length > 0) this.attempt(this.ready.shift()!)
  }

  private attempt(job: Job): void {
    const { url, secret, timeoutMs } = this.options
    this.inFlight.add(job)
    job.attempts++
    const controller = new AbortController()
    job.abort = controller
    const timer = setTimeout(() => controller.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs)
    timer.unref()
    // Signed per attempt: a retry carries a fresh timestamp, within the receiver's tolerance.
    const timestamp = Math.floor(Date.now() / 1000)
    const headers = {
      'content-type': 'application/json',
      'user-agent': 'fastify-pusher-webhooks',
      [WEBHOOK_HEADERS.id]: job.event.id,
      [WEBHOOK_HEADERS.timestamp]: String(timestamp),
      [WEBHOOK_HEADERS.signature]: signWebhook(secret, timestamp, job.body),
      'pusher-webhook-attempt': String(job.attempts),
    }
    let answer: Promise<number>
    try {
      answer = this.transport({ url, headers, body: job.body, signal: controller.signal })
    } catch (error) {
      answer = Promise.reject(error)
    }
    answer.then(
      (status) => (status >= 200 && status < 300 ? undefined : `HTTP ${status}`),
      (error: unknown) => problemOf(controller.signal.aborted ? controller.signal.reason : error),
    ).then((problem) => {
      clearTimeout(timer)
      if (job.abandoned) return
      job.abort = undefined
      this.inFlight.delete(job)
      if (problem === undefined) this.succeeded(job)
      else this.failed(job, problem)
      this.pump()
      this.wakeIdle()
    })
  }

  private succeeded(job: Job): void {
    this.stats.sent[job.event.type]++
    if (this.failing) {
      this.options.log.info(`webhook deliveries to ${this.origin} succeed again, after ${this.failedSinceSuccess} failed attempts`)
    }
    this.failing = false
    this.failedSinceSuccess = 0
    this.dropsLogged.clear()
  }

  private failed(job: Job, problem: string): void {
    this.stats.failed[job.event.type]++
    this.failedSinceSuccess++
    // One line when deliveries start failing and one when they recover, not one per attempt.
    if (!this.failing) {
      this.failing = true
      this.options.log.warn(`webhook delivery to ${this.origin} failed (${problem}); retrying with backoff`)
    }
    if (this.stopped) return this.drop(job, 'shutdown')
    const { maxAttempts, maxAgeMs, retryDelayMs } = this.options
    if (job.attempts >= maxAttempts) return this.drop(job, 'gave_up')
    const delay = backoffDelay(job.attempts - 1, { initialMs: retryDelayMs, maxMs: Math.max(MAX_RETRY_DELAY_MS, retryDelayMs) }, this.random)
    const retryAt = Date.now() + delay
    if (retryAt - job.queuedAt > maxAgeMs) return this.drop(job, 'gave_up')
    if (this.closing !== undefined && retryAt > this.deadline) return this.drop(job, 'shutdown')
    job.retryAt = retryAt
    job.retryTimer = setTimeout(() => {
      this.waiting.delete(job)
      job.retryTimer = undefined
      this.ready.push(job)
      this.pump()
    }, delay)
    job.retryTimer.unref()
    this.waiting.add(job)
  }

  private drop(job: Job, reason: DropReason): void {
    this.stats.dropped[reason][job.event.type]++
    if (reason === 'shutdown' || this.dropsLogged.has(reason)) return
    // Once per reason until a delivery succeeds again; the metric counts every one.
    this.dropsLogged.add(reason)
    this.options.log.warn(reason === 'queue_full'
      ? `webhook queue full (${this.options.maxQueue} events): dropping new events until it drains (pusher_webhook_dropped_total counts them)`
      : `gave up on webhook event ${job.event.id} (${job.event.type}) after ${job.attempts} attempts to ${this.origin}`)
  }

  private wakeIdle(): void {
    if (this.length > 0 || this.idleWaiters.length === 0) return
    for (const wake of this.idleWaiters.splice(0)) wake()
  }
}

/** A failed attempt in a few words: fetch's "fetch failed" hides the reason in `cause`. */
function problemOf(error: unknown): string {
  if (!(error instanceof Error)) return String(error)
  const cause = error.cause as { code?: string; message?: string } | undefined
  return cause === undefined ? error.message : `${error.message}: ${cause.code ?? cause.message}`
}
