// The SQLite engine's topic history, in the SqliteStore's own database (tables in
// sqlite-schema.ts). Appends made within one event-loop turn are written in one
// transaction, as the store does for users' messages: a burst of publishes costs one
// commit, not one per message.
import type Database from 'better-sqlite3'
import { MessageIds } from './ids.js'
import { assertTopics, MAX_TOPIC_LENGTH } from '../topics/name.js'
import { firstSeq } from './store.js'
import { type NewTopicMessage, SEQ_KEPT_AFTER_MS, type TopicHistory, type TopicHistoryOptions, type TopicHistoryPage, type TopicHistoryStats, type TopicMessage } from './topic-history.js'

interface PendingAppend {
  messages: NewTopicMessage[]
  now: number
  resolve(stored: TopicMessage[]): void
  reject(error: unknown): void
}

interface TopicRow {
  seq: number
  id: string
  data: string
  created_at: number
  expires_at: number
}

export class SqliteTopicHistory implements TopicHistory {
  readonly stats: TopicHistoryStats = { stored: 0, trimmed: 0 }
  private readonly statements
  private readonly ids = new MessageIds()
  private pending: PendingAppend[] = []
  private commitScheduled = false
  /** The turn's one transaction; returns what it stored and how many it trimmed, counted once it commits. */
  private readonly commitTurn: (appends: PendingAppend[]) => { stored: TopicMessage[][]; trimmed: number }
  private readonly readPage: (topic: string, afterSeq: number, limit: number, now: number) => TopicHistoryPage

  /** `db` is the SqliteStore's, its schema already applied; the store closes it. */
  constructor(db: Database.Database, private readonly options: TopicHistoryOptions) {
    this.statements = {
      // As for users' seqs (sqlite.ts): the first is firstSeq(now), then one more each time.
      // The first seq stays with the topic: seqs below it never existed (lib/topics/recovery.ts).
      nextSeq: db.prepare<{ topic: string; first: number; keptUntil: number }, { last: number }>(`INSERT INTO topic_seqs (topic, last, first, kept_until)
        VALUES (@topic, @first, @first, @keptUntil) ON CONFLICT (topic) DO UPDATE SET last = last + 1, kept_until = max(kept_until, excluded.kept_until)
        RETURNING last`),
      forgetSeqs: db.prepare<[number]>('DELETE FROM topic_seqs WHERE kept_until <= ?'),
      insert: db.prepare<[string, number, string, string, number, number]>(
        'INSERT INTO topic_messages (topic, seq, id, data, created_at, expires_at) VALUES (?, ?, ?, ?, ?, ?)'),
      // Seqs are contiguous, so the rows beyond the newest maxPerTopic are those at or below
      // seq - maxPerTopic: a range delete on the primary key, no count of the topic's rows.
      trim: db.prepare<[string, number], { expires_at: number }>('DELETE FROM topic_messages WHERE topic = ? AND seq <= ? RETURNING expires_at'),
      page: db.prepare<[string, number, number, number], TopicRow>(`SELECT seq, id, data, created_at, expires_at FROM topic_messages
        WHERE topic = ? AND seq > ? AND expires_at > ? ORDER BY seq LIMIT ?`),
      seqs: db.prepare<[string], { last: number; first: number }>('SELECT last, first FROM topic_seqs WHERE topic = ?'),
      sweep: db.prepare<[number]>('DELETE FROM topic_messages WHERE expires_at <= ?'),
    }
    this.commitTurn = db.transaction((appends: PendingAppend[]) => {
      let trimmed = 0
      const stored = appends.map(({ messages, now }) => messages.map((message) => {
        const { stored, trimmed: removed } = this.insert(message, now)
        trimmed += removed
        return stored
      }))
      return { stored, trimmed }
    })
    // One read transaction: the page and lastSeq are of the same moment, even with
    // another connection writing the file.
    this.readPage = db.transaction((topic: string, afterSeq: number, limit: number, now: number): TopicHistoryPage => {
      const seqs = this.statements.seqs.get(topic)
      return {
        messages: this.statements.page.all(topic, afterSeq, now, limit).map((row) => ({
          id: row.id, topic, seq: row.seq, data: row.data, createdAt: row.created_at, expiresAt: row.expires_at,
        })),
        lastSeq: seqs?.last ?? 0,
        firstSeq: seqs?.first ?? 0,
      }
    })
  }

  append(messages: NewTopicMessage[], now = Date.now()): Promise<TopicMessage[]> {
    return new Promise((resolve, reject) => {
      // Before joining the turn's transaction, so a refused name fails this call only.
      assertTopics(messages.map((m) => m.topic), MAX_TOPIC_LENGTH)
      this.pending.push({ messages, now, resolve, reject })
      if (this.commitScheduled) return
      this.commitScheduled = true
      setImmediate(this.commitPending)
    })
  }

  async after(topic: string, afterSeq: number, limit: number, now = Date.now()): Promise<TopicHistoryPage> {
    return this.readPage(topic, afterSeq, limit, now)
  }

  async sweep(now = Date.now()): Promise<number> {
    return this.removeExpired(now)
  }

  /**
   * sweep(), at once: the SqliteStore's sweep calls it, then gives the freed pages back.
   * Also forgets the seqs of topics whose newest message expired 30 days ago or more.
   */
  removeExpired(now: number): number {
    this.statements.forgetSeqs.run(now)
    return this.statements.sweep.run(now).changes
  }

  /**
   * Commits the turn's appends now rather than at setImmediate: the store calls it before
   * closing the database, so an append that was asked for is not lost to the close.
   */
  readonly commitPending = (): void => {
    if (!this.commitScheduled) return
    this.commitScheduled = false
    const appends = this.pending
    this.pending = []
    try {
      const { stored, trimmed } = this.commitTurn(appends)
      // Counted once committed: a rolled-back turn stored and trimmed nothing.
      for (const messages of stored) this.stats.stored += messages.length
      this.stats.trimmed += trimmed
      for (const [i, { resolve }] of appends.entries()) resolve(stored[i]!)
    } catch (error) {
      for (const { reject } of appends) reject(error)
    }
  }

  private insert({ topic, data, ttlMs }: NewTopicMessage, now: number): { stored: TopicMessage; trimmed: number } {
    const { last: seq } = this.statements.nextSeq.get({ topic, first: firstSeq(now), keptUntil: now + ttlMs + SEQ_KEPT_AFTER_MS })!
    const id = this.ids.next()
    const expiresAt = now + ttlMs
    this.statements.insert.run(topic, seq, id, data, now, expiresAt)
    // Only those still within their time to live count as trimmed (the stats' meaning);
    // expired ones the sweep had not reached yet go too.
    let trimmed = 0
    for (const row of this.statements.trim.all(topic, seq - this.options.maxPerTopic)) if (row.expires_at > now) trimmed++
    return { stored: { id, topic, seq, data, createdAt: now, expiresAt }, trimmed }
  }
}
