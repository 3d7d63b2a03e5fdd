// The embedded MessageStore: one SQLite file through better-sqlite3, in WAL mode.
// Appends, delivered marks and acks that arrive within one event-loop turn are written in
// one transaction, so durability costs one commit per turn, not per message. synchronous=NORMAL makes a
// commit survive the process being killed (the kernel holds what was written); `sync:
// 'full'` adds an fsync per commit for surviving a power loss too.
import Database from 'better-sqlite3'
import { MessageIds } from './ids.js'
import { NOTICE_COLUMNS, type NoticeRow, OPEN, type Row, SCHEMA, SEED_COUNTS, toMessage, toNotice } from './sqlite-schema.js'
import { assertUids } from '../auth/uid.js'
import { SqliteTopicHistory } from './sqlite-topics.js'
import { DEFAULT_TOPIC_HISTORY_SIZE } from './topic-history.js'
import {
  type ExpiredMessage, firstSeq, type MessageNotice, type MessageStatus, type MessageStore, type NewMessage, newStoreStats,
  type StoredMessage, type StoreOptions,
} from './store.js'

export interface SqliteStoreOptions extends StoreOptions {
  /** Path of the database file; ':memory:' for a store that dies with the process. */
  path: string
  sync?: 'normal' | 'full'
}

/** Users whose open count (openCounts) and last ack (ackedUpTo) are remembered at most. */
const USERS_REMEMBERED = 100_000

interface PendingDelivered {
  ids: string[]
  now: number
  resolve: () => void
  reject: (error: Error) => void
}

interface PendingAck {
  uid: string
  seq: number
  now: number
  resolve: (acked: number) => void
  reject: (error: Error) => void
}

interface PendingAppend {
  messages: NewMessage[]
  now: number
  resolve(stored: StoredMessage[]): void
  reject(error: unknown): void
}

export class SqliteStore implements MessageStore {
  readonly stats = newStoreStats()
  onExpired: ((messages: ExpiredMessage[]) => void) | undefined
  /** In the same file: a topic's history is as durable as a user's queue. */
  readonly topics: SqliteTopicHistory
  private readonly db: Database.Database
  private readonly statements
  private readonly ids = new MessageIds()
  private pending: PendingAppend[] = []
  /**
   * Open messages per user, as counted by openCount, kept up to date by appends, drops
   * and acks so that an append does not count the user's messages every time. A sweep
   * lowers the counts of the users whose messages it expired; a failed transaction
   * clears it; bounded in size.
   */
  private openCounts = new Map<string, number>()
  /** The seq each user last acknowledged up to: where the next ack's query starts. */
  private ackedUpTo = new Map<string, number>()
  private pendingDelivered: PendingDelivered[] = []
  private pendingAcks: PendingAck[] = []
  /** Messages the turn's appends expired for the per-user limit, reported once the turn commits. */
  private droppedInTurn: ExpiredMessage[] = []
  private commitScheduled = false
  /** The turn's one transaction: appends, then delivered marks, then acks. */
  private readonly commitTurn: (appends: PendingAppend[], marks: PendingDelivered[], acks: PendingAck[]) => { stored: StoredMessage[][]; acked: number[] }

  constructor(private readonly options: SqliteStoreOptions) {
    this.db = new Database(options.path)
    // Must precede the first table for incremental vacuum to be possible at all.
    this.db.pragma('auto_vacuum = INCREMENTAL')
    this.db.pragma('journal_mode = WAL')
    this.db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`)
    this.db.pragma('busy_timeout = 5000')
    this.db.transaction(() => this.db.exec(SCHEMA + SEED_COUNTS))()
    const db = this.db
    this.topics = new SqliteTopicHistory(db, { maxPerTopic: options.maxPerTopic ?? DEFAULT_TOPIC_HISTORY_SIZE })
    this.statements = {
      nextSeq: db.prepare<[string, number], { last: number }>(
        'INSERT INTO seqs (uid, last) VALUES (?, ?) ON CONFLICT (uid) DO UPDATE SET last = last + 1 RETURNING last'),
      insert: db.prepare(`INSERT INTO messages (id, uid, seq, data, created_at, expires_at, status) VALUES (?, ?, ?, ?, ?, ?, 'queued')`),
      openCount: db.prepare<[string], { n: number }>(`SELECT COUNT(*) AS n FROM messages WHERE uid = ? AND ${OPEN}`),
      dropOldest: db.prepare<{ now: number; uid: string; count: number }, NoticeRow>(`UPDATE messages SET status = 'expired', expired_at = @now, closed_at = @now
        WHERE id IN (SELECT id FROM messages WHERE uid = @uid AND ${OPEN} ORDER BY seq LIMIT @count) RETURNING ${NOTICE_COLUMNS}`),
      delivered: db.prepare(`UPDATE messages SET status = 'delivered', delivered_at = ? WHERE id = ? AND status = 'queued'`),
      ack: db.prepare<{ now: number; uid: string; from: number; seq: number }>(`UPDATE messages SET status = 'acked', acked_at = @now, closed_at = @now
        WHERE uid = @uid AND seq > @from AND seq <= @seq AND ${OPEN} AND expires_at > @now`),
      open: db.prepare<[string, number, number, number], Row>(`SELECT * FROM messages
        WHERE uid = ? AND seq > ? AND ${OPEN} AND expires_at > ? ORDER BY seq LIMIT ?`),
      get: db.prepare<[string], Row>('SELECT * FROM messages WHERE id = ?'),
      lastSeq: db.prepare<[string], { last: number }>('SELECT last FROM seqs WHERE uid = ?'),
      expire: db.prepare<{ now: number }, NoticeRow>(`UPDATE messages SET status = 'expired', expired_at = expires_at, closed_at = @now
        WHERE ${OPEN} AND expires_at <= @now RETURNING ${NOTICE_COLUMNS}`),
      dueInsert: db.prepare<[string, number]>('INSERT OR REPLACE INTO unacked_due (id, due) VALUES (?, ?)'),
      dueClaim: db.prepare<[number, number], { id: string }>(
        'DELETE FROM unacked_due WHERE id IN (SELECT id FROM unacked_due WHERE due <= ? ORDER BY due LIMIT ?) RETURNING id'),
      duePrune: db.prepare<[number]>('DELETE FROM unacked_due WHERE due <= ?'),
      openNotice: db.prepare<[string, number], NoticeRow>(`SELECT ${NOTICE_COLUMNS} FROM messages WHERE id = ? AND ${OPEN} AND expires_at > ?`),
      forget: db.prepare('DELETE FROM messages WHERE closed_at IS NOT NULL AND closed_at <= ?'),
      counts: db.prepare<[], { status: MessageStatus; n: number }>('SELECT status, n FROM status_counts'),
      // Through messages_open_by_expiry: only the open messages past their TTL that no sweep expired yet.
      lapsed: db.prepare<[number], { status: MessageStatus; n: number }>(
        `SELECT status, COUNT(*) AS n FROM messages WHERE ${OPEN} AND expires_at <= ? GROUP BY status`),
      probe: db.prepare<[number]>(
        'INSERT INTO write_probe (id, written_at) VALUES (1, ?) ON CONFLICT (id) DO UPDATE SET written_at = excluded.written_at'),
    }
    this.commitTurn = db.transaction((appends: PendingAppend[], marks: PendingDelivered[], acks: PendingAck[]) => {
      const stored = appends.map(({ messages, now }) => messages.map((m) => this.insert(m, now)))
      for (const { ids, now } of marks) {
        for (const id of ids) this.stats.delivered += this.statements.delivered.run(now, id).changes
      }
      const acked = acks.map(({ uid, seq, now }) => this.acknowledge(uid, seq, now))
      return { stored, acked }
    })
  }

  append(messages: NewMessage[], now = Date.now()): Promise<StoredMessage[]> {
    return new Promise((resolve, reject) => {
      // Before joining the turn's transaction, so a refused uid fails this call only.
      assertUids(messages)
      this.pending.push({ messages, now, resolve, reject })
      this.scheduleCommit()
    })
  }

  /** Grouped like appends: a live durable send marks its message in the turn's one commit. */
  markDelivered(ids: string[], now = Date.now()): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pendingDelivered.push({ ids, now, resolve, reject })
      this.scheduleCommit()
    })
  }

  /** Grouped like appends: the acks of a turn's many clients share its one commit. */
  ack(uid: string, seq: number, now = Date.now()): Promise<number> {
    return new Promise((resolve, reject) => {
      this.pendingAcks.push({ uid, seq, now, resolve, reject })
      this.scheduleCommit()
    })
  }

  async lastSeq(uid: string): Promise<number> {
    return this.statements.lastSeq.get(uid)?.last ?? 0
  }

  async open(uid: string, afterSeq: number, limit: number, now = Date.now()): Promise<StoredMessage[]> {
    return this.statements.open.all(uid, afterSeq, now, limit).map((row) => toMessage(row, now))
  }

  async get(id: string, now = Date.now()): Promise<StoredMessage | undefined> {
    const row = this.statements.get.get(id)
    return row === undefined ? undefined : toMessage(row, now)
  }

  async sweep(now = Date.now()): Promise<{ expired: number; forgotten: number }> {
    // Only the users whose messages expired have their remembered counts lowered.
    const expiredOf = this.statements.expire.all({ now })
    for (const { uid } of expiredOf) this.closedOpen(uid, 1)
    const expired = expiredOf.length
    const forgotten = this.statements.forget.run(now - this.options.keepClosedMs).changes
    // Due rows nobody claimed (unackedAfterMs was turned off since): as old as the oldest closed message kept.
    this.statements.duePrune.run(now - this.options.keepClosedMs)
    this.stats.expired += expired
    if (expired > 0) this.reportExpired(expiredOf.map((row) => ({ ...toNotice(row), expiredAt: row.expires_at, reason: 'ttl' })))
    // Topic messages are deleted outright, not kept closed: not counted as expired.
    const topicsRemoved = this.topics.removeExpired(now)
    // Give freed pages back to the file system, so the file does not only grow.
    if (forgotten > 0 || topicsRemoved > 0) this.db.pragma('incremental_vacuum')
    return { expired, forgotten }
  }

  async claimUnacked(limit: number, now = Date.now()): Promise<MessageNotice[]> {
    const { dueClaim, openNotice } = this.statements
    // One transaction: the due rows are gone exactly when their messages are read.
    return this.db.transaction(() => dueClaim.all(now, limit).flatMap(({ id }) => {
      const row = openNotice.get(id, now)
      return row === undefined ? [] : [toNotice(row)]
    }))().sort((a, b) => a.createdAt - b.createdAt)
  }

  async countByStatus(now = Date.now()): Promise<Record<MessageStatus, number>> {
    const counts: Record<MessageStatus, number> = { queued: 0, delivered: 0, acked: 0, expired: 0 }
    for (const { status, n } of this.statements.counts.all()) counts[status] = n
    // Open messages past their TTL read as expired (asOf), swept or not.
    for (const { status, n } of this.statements.lapsed.all(now)) {
      counts[status] -= n
      counts.expired += n
    }
    return counts
  }

  /** One row rewritten in a transaction of its own: it commits (to the WAL) like an append. */
  async checkWritable(now = Date.now()): Promise<void> {
    this.statements.probe.run(now)
  }

  async close(): Promise<void> {
    if (this.commitScheduled) this.commitPending()
    this.topics.commitPending()
    this.db.close()
  }

  private scheduleCommit(): void {
    if (this.commitScheduled) return
    this.commitScheduled = true
    setImmediate(this.commitPending)
  }

  /** One transaction for every append and delivered mark of the turn: one commit, however many senders. */
  private readonly commitPending = (): void => {
    if (!this.commitScheduled) return
    this.commitScheduled = false
    const appends = this.pending
    const marks = this.pendingDelivered
    const acks = this.pendingAcks
    this.pending = []
    this.pendingDelivered = []
    this.pendingAcks = []
    try {
      const { stored, acked } = this.commitTurn(appends, marks, acks)
      for (const [i, { resolve }] of appends.entries()) resolve(stored[i]!)
      for (const { resolve } of marks) resolve()
      for (const [i, { resolve }] of acks.entries()) resolve(acked[i]!)
      const dropped = this.droppedInTurn
      this.droppedInTurn = []
      if (dropped.length > 0) this.reportExpired(dropped)
    } catch (error) {
      // The transaction rolled back: the counts and acks it moved are wrong now, and nothing was dropped.
      this.openCounts.clear()
      this.ackedUpTo.clear()
      this.droppedInTurn = []
      for (const { reject } of [...appends, ...marks, ...acks]) reject(error as Error)
    }
  }

  private acknowledge(uid: string, seq: number, now: number): number {
    // Everything up to an earlier ack is closed (or lapsed, for the sweep): start after it,
    // rather than walk every message the user was sent since keepClosedMs.
    const from = this.ackedUpTo.get(uid) ?? 0
    if (seq <= from) return 0
    const { changes } = this.statements.ack.run({ now, uid, from, seq })
    if (this.ackedUpTo.size >= USERS_REMEMBERED && !this.ackedUpTo.has(uid)) this.ackedUpTo.clear()
    // A client may ack past what exists; later messages must still be acknowledgeable.
    this.ackedUpTo.set(uid, Math.min(seq, this.statements.lastSeq.get(uid)?.last ?? 0))
    this.closedOpen(uid, changes)
    this.stats.acked += changes
    return changes
  }

  /** Hands expired messages to onExpired; a listener's error must not undo what was committed. */
  private reportExpired(messages: ExpiredMessage[]): void {
    try {
      this.onExpired?.(messages)
    } catch {
      // The listener's own problem: the store's state is already right.
    }
  }

  /** `count` open messages of `uid` were closed (acknowledged, expired): its remembered count follows. */
  private closedOpen(uid: string, count: number): void {
    const open = this.openCounts.get(uid)
    if (open !== undefined) this.openCounts.set(uid, open - count)
  }

  private insert({ uid, data, ttlMs }: NewMessage, now: number): StoredMessage {
    const { last: seq } = this.statements.nextSeq.get(uid, firstSeq(now))!
    const id = this.ids.next()
    const expiresAt = now + ttlMs
    this.statements.insert.run(id, uid, seq, data, now, expiresAt)
    if (this.options.unackedAfterMs) this.statements.dueInsert.run(id, now + this.options.unackedAfterMs)
    this.stats.stored++
    let open = this.openCounts.get(uid)
    if (open === undefined) {
      if (this.openCounts.size >= USERS_REMEMBERED) this.openCounts.clear()
      open = this.statements.openCount.get(uid)!.n
    } else {
      open++
    }
    if (open > this.options.maxPerUser) {
      const rows = this.statements.dropOldest.all({ now, uid, count: open - this.options.maxPerUser })
      for (const row of rows) this.droppedInTurn.push({ ...toNotice(row), expiredAt: now, reason: 'queue_limit' })
      const dropped = rows.length
      open -= dropped
      this.stats.dropped += dropped
      this.stats.expired += dropped
    }
    this.openCounts.set(uid, open)
    return { id, uid, seq, data, createdAt: now, expiresAt, status: 'queued' }
  }
}
