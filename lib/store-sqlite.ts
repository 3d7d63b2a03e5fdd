// The embedded MessageStore: one SQLite file through better-sqlite3, in WAL mode.
// Appends that arrive within one event-loop turn are written in one transaction, so
// durability costs one commit per turn, not per message. synchronous=NORMAL makes a
// commit survive the process being killed (the kernel holds what was written); `sync:
// 'full'` adds an fsync per commit for surviving a power loss too.
import { randomBytes } from 'node:crypto'
import Database from 'better-sqlite3'
import { asOf, type MessageStatus, type MessageStore, type NewMessage, newStoreStats, type StoredMessage, type StoreOptions } from './store.js'

export interface SqliteStoreOptions extends StoreOptions {
  /** Path of the database file; ':memory:' for a store that dies with the process. */
  path: string
  sync?: 'normal' | 'full'
}

const OPEN = `status IN ('queued', 'delivered')`

const SCHEMA = `
CREATE TABLE IF NOT EXISTS seqs (uid TEXT PRIMARY KEY, last INTEGER NOT NULL) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS messages (
  id TEXT PRIMARY KEY,
  uid TEXT NOT NULL,
  seq INTEGER NOT NULL,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  status TEXT NOT NULL,
  delivered_at INTEGER,
  acked_at INTEGER,
  expired_at INTEGER,
  closed_at INTEGER
);
CREATE UNIQUE INDEX IF NOT EXISTS messages_by_user ON messages (uid, seq);
CREATE INDEX IF NOT EXISTS messages_open_by_expiry ON messages (expires_at) WHERE ${OPEN};
CREATE INDEX IF NOT EXISTS messages_closed ON messages (closed_at) WHERE closed_at IS NOT NULL;
`

interface Row {
  id: string
  uid: string
  seq: number
  data: string
  created_at: number
  expires_at: number
  status: MessageStatus
  delivered_at: number | null
  acked_at: number | null
  expired_at: number | null
}

function toMessage(row: Row, now: number): StoredMessage {
  const message: StoredMessage = {
    id: row.id, uid: row.uid, seq: row.seq, data: row.data,
    createdAt: row.created_at, expiresAt: row.expires_at, status: row.status,
  }
  if (row.delivered_at !== null) message.deliveredAt = row.delivered_at
  if (row.acked_at !== null) message.ackedAt = row.acked_at
  if (row.expired_at !== null) message.expiredAt = row.expired_at
  return asOf(message, now)
}

interface PendingAppend {
  messages: NewMessage[]
  now: number
  resolve(stored: StoredMessage[]): void
  reject(error: unknown): void
}

export class SqliteStore implements MessageStore {
  readonly stats = newStoreStats()
  private readonly db: Database.Database
  private readonly statements
  private readonly idPrefix = randomBytes(6).toString('base64url')
  private idCounter = 0
  private pending: PendingAppend[] = []

  constructor(private readonly options: SqliteStoreOptions) {
    this.db = new Database(options.path)
    // Must precede the first table for incremental vacuum to be possible at all.
    this.db.pragma('auto_vacuum = INCREMENTAL')
    this.db.pragma('journal_mode = WAL')
    this.db.pragma(`synchronous = ${options.sync === 'full' ? 'FULL' : 'NORMAL'}`)
    this.db.pragma('busy_timeout = 5000')
    this.db.exec(SCHEMA)
    const db = this.db
    this.statements = {
      nextSeq: db.prepare<[string], { last: number }>(
        'INSERT INTO seqs (uid, last) VALUES (?, 1) ON CONFLICT (uid) DO UPDATE SET last = last + 1 RETURNING last'),
      insert: db.prepare(`INSERT INTO messages (id, uid, seq, data, created_at, expires_at, status) VALUES (?, ?, ?, ?, ?, ?, 'queued')`),
      openCount: db.prepare<[string], { n: number }>(`SELECT COUNT(*) AS n FROM messages WHERE uid = ? AND ${OPEN}`),
      dropOldest: db.prepare<{ now: number; uid: string; count: number }>(`UPDATE messages SET status = 'expired', expired_at = @now, closed_at = @now
        WHERE id IN (SELECT id FROM messages WHERE uid = @uid AND ${OPEN} ORDER BY seq LIMIT @count)`),
      delivered: db.prepare(`UPDATE messages SET status = 'delivered', delivered_at = ? WHERE id = ? AND status = 'queued'`),
      ack: db.prepare<{ now: number; uid: string; seq: number }>(`UPDATE messages SET status = 'acked', acked_at = @now, closed_at = @now
        WHERE uid = @uid AND seq <= @seq AND ${OPEN} AND expires_at > @now`),
      open: db.prepare<[string, number, number, number], Row>(`SELECT * FROM messages
        WHERE uid = ? AND seq > ? AND ${OPEN} AND expires_at > ? ORDER BY seq LIMIT ?`),
      get: db.prepare<[string], Row>('SELECT * FROM messages WHERE id = ?'),
      expire: db.prepare<{ now: number }>(`UPDATE messages SET status = 'expired', expired_at = expires_at, closed_at = @now
        WHERE ${OPEN} AND expires_at <= @now`),
      forget: db.prepare('DELETE FROM messages WHERE closed_at IS NOT NULL AND closed_at <= ?'),
    }
  }

  append(messages: NewMessage[], now = Date.now()): Promise<StoredMessage[]> {
    return new Promise((resolve, reject) => {
      if (this.pending.length === 0) setImmediate(this.commitPending)
      this.pending.push({ messages, now, resolve, reject })
    })
  }

  async markDelivered(ids: string[], now = Date.now()): Promise<void> {
    const mark = this.db.transaction(() => {
      for (const id of ids) this.stats.delivered += this.statements.delivered.run(now, id).changes
    })
    mark()
  }

  async ack(uid: string, seq: number, now = Date.now()): Promise<number> {
    const { changes } = this.statements.ack.run({ now, uid, seq })
    this.stats.acked += changes
    return changes
  }

  async open(uid: string, afterSeq: number, limit: number, now = Date.now()): Promise<StoredMessage[]> {
    return this.statements.open.all(uid, afterSeq, now, limit).map((row) => toMessage(row, now))
  }

  async get(id: string, now = Date.now()): Promise<StoredMessage | undefined> {
    const row = this.statements.get.get(id)
    return row === undefined ? undefined : toMessage(row, now)
  }

  async sweep(now = Date.now()): Promise<{ expired: number; forgotten: number }> {
    const expired = this.statements.expire.run({ now }).changes
    const forgotten = this.statements.forget.run(now - this.options.keepClosedMs).changes
    this.stats.expired += expired
    // Give freed pages back to the file system, so the file does not only grow.
    if (forgotten > 0) this.db.pragma('incremental_vacuum')
    return { expired, forgotten }
  }

  async close(): Promise<void> {
    if (this.pending.length > 0) this.commitPending()
    this.db.close()
  }

  /** One transaction for every append of the turn: one commit, however many senders. */
  private readonly commitPending = (): void => {
    const batch = this.pending
    this.pending = []
    try {
      const results = this.db.transaction(() => batch.map(({ messages, now }) => messages.map((m) => this.insert(m, now))))()
      for (const [i, { resolve }] of batch.entries()) resolve(results[i]!)
    } catch (error) {
      for (const { reject } of batch) reject(error)
    }
  }

  private insert({ uid, data, ttlMs }: NewMessage, now: number): StoredMessage {
    const { last: seq } = this.statements.nextSeq.get(uid)!
    const id = `${this.idPrefix}${(this.idCounter++).toString(36)}`
    const expiresAt = now + ttlMs
    this.statements.insert.run(id, uid, seq, data, now, expiresAt)
    this.stats.stored++
    const open = this.statements.openCount.get(uid)!.n
    if (open > this.options.maxPerUser) {
      const dropped = this.statements.dropOldest.run({ now, uid, count: open - this.options.maxPerUser }).changes
      this.stats.dropped += dropped
      this.stats.expired += dropped
    }
    return { id, uid, seq, data, createdAt: now, expiresAt, status: 'queued' }
  }
}
