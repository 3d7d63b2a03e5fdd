// Every request or connection a default limit turned away, counted by reason for the
// pusher_refused_total metric, and logged so that a flood cannot fill a disk: the first
// lines of an interval are written one by one, with the client's address; the rest are
// summed up in one line at the end of the interval, by reason and by address.
import type { TopicRefusal } from '../hub/hub-types.js'

/** Why a limit refused a client; the `reason` label of pusher_refused_total. */
export type RefusalReason =
  | 'connection_cap' // PUSHER_MAX_CONNECTIONS reached: upgrade refused with 503
  | 'user_cap' // PUSHER_MAX_CONNECTIONS_PER_USER reached: upgrade refused with 429
  | 'rate' // too many authentication failures from one address: 429 before any verification
  | 'send_rate' // the optional per-API-key send rate: 429
  | 'origin' // Origin not in PUSHER_ALLOWED_ORIGINS: 403
  | 'timeout' // no complete request head, or body, in time: 408 and closed
  | 'shed' // an idle connection that never sent a request, closed to make room
  | 'frame_flood' // a client sent frames faster than the inbound limit: closed with 1008
  | TopicRefusal // a framed client's subscribe: an error frame, the connection stays open

export interface RefusalLogOptions {
  /** Length of one summary interval. */
  intervalMs?: number
  /** Lines written one by one per interval; past them, refusals are only summed up. */
  linesPerInterval?: number
}

/** Where refusal lines go: a pino-style `(fields, message)` logger. */
export type RefusalLogger = (fields: Record<string, unknown>, message: string) => void

/** Addresses named in one summary line; the others are counted together. */
const ADDRESSES_IN_SUMMARY = 10
/** Addresses tracked per interval, so that a flood from many addresses costs bounded memory. */
const ADDRESSES_TRACKED = 1000

/**
 * Counts refusals and writes their log lines, summarised. Authentication failures
 * (bad tokens, bad API keys) go through `log()` too: they are counted by their own
 * metric, but a storm of them must not fill the disk either.
 */
export class Refusals {
  readonly counts: Record<RefusalReason, number> = {
    connection_cap: 0, user_cap: 0, rate: 0, send_rate: 0, origin: 0, timeout: 0, shed: 0, frame_flood: 0,
    topic_invalid: 0, topic_forbidden: 0, topic_limit: 0, topic_rate: 0,
  }
  private readonly intervalMs: number
  private readonly linesPerInterval: number
  private written = 0
  private suppressed = 0
  private readonly byKind = new Map<string, number>()
  private readonly byAddress = new Map<string, number>()
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly logger: RefusalLogger, options: RefusalLogOptions = {}) {
    this.intervalMs = options.intervalMs ?? 10_000
    this.linesPerInterval = options.linesPerInterval ?? 20
  }

  /** Counts a refusal by a limit and logs it. */
  refuse(reason: RefusalReason, address: string | undefined, message: string): void {
    this.counts[reason]++
    this.log(reason, address, message)
  }

  /** Logs a refusal (summarised past the per-interval budget) without counting it as a limit's. */
  log(kind: string, address: string | undefined, message: string): void {
    if (this.timer === undefined) {
      this.timer = setTimeout(this.summarise, this.intervalMs)
      this.timer.unref()
    }
    if (this.written < this.linesPerInterval) {
      this.written++
      this.logger({ reason: kind, address }, message)
      return
    }
    this.suppressed++
    this.byKind.set(kind, (this.byKind.get(kind) ?? 0) + 1)
    const key = address ?? 'unknown'
    if (this.byAddress.has(key) || this.byAddress.size < ADDRESSES_TRACKED) this.byAddress.set(key, (this.byAddress.get(key) ?? 0) + 1)
    else this.byAddress.set('other', (this.byAddress.get('other') ?? 0) + 1)
  }

  /** Writes the interval's summary, if anything was held back, and starts afresh. */
  readonly summarise = (): void => {
    this.timer = undefined
    this.written = 0
    if (this.suppressed === 0) return
    const top = [...this.byAddress].sort((a, b) => b[1] - a[1]).slice(0, ADDRESSES_IN_SUMMARY)
    this.logger(
      { suppressed: this.suppressed, reasons: Object.fromEntries(this.byKind), addresses: Object.fromEntries(top) },
      `${this.suppressed} more refusals in the last ${this.intervalMs / 1000} s, not logged one by one`,
    )
    this.suppressed = 0
    this.byKind.clear()
    this.byAddress.clear()
  }

  /** Stops the interval timer, writing what it held. */
  close(): void {
    clearTimeout(this.timer)
    this.summarise()
  }
}
