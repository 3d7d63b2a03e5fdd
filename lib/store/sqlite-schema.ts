// The SQLite store's tables: messages, the last seq per user, and per-status counts kept
// by triggers; the topic history's two tables; and how a row reads as a StoredMessage.
import { asOf, type MessageNotice, type MessageStatus, type StoredMessage } from './store.js'

/** A message that is neither acknowledged nor expired. */
export const OPEN = `status IN ('queued', 'delivered')`

export const SCHEMA = `
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
-- How many messages have each status, kept by triggers in the transaction that changes
-- them: countByStatus() runs at every metrics scrape, and counting the table (even a
-- covering index of it) blocks the event loop for about 250 ms per million messages.
CREATE TABLE IF NOT EXISTS status_counts (status TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS count_inserted AFTER INSERT ON messages BEGIN
  UPDATE status_counts SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER IF NOT EXISTS count_changed AFTER UPDATE OF status ON messages WHEN OLD.status <> NEW.status BEGIN
  UPDATE status_counts SET n = n - 1 WHERE status = OLD.status;
  UPDATE status_counts SET n = n + 1 WHERE status = NEW.status;
END;
CREATE TRIGGER IF NOT EXISTS count_deleted AFTER DELETE ON messages BEGIN
  UPDATE status_counts SET n = n - 1 WHERE status = OLD.status;
END;
-- When each message is due to be reported still unacknowledged (webhooks), written only
-- with unackedAfterMs: claimUnacked() deletes the due rows and reports the messages
-- still open. A row outlives its message by at most keepClosedMs (the sweep prunes).
CREATE TABLE IF NOT EXISTS unacked_due (id TEXT PRIMARY KEY, due INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS unacked_due_by_due ON unacked_due (due);

-- Topic history (sqlite-topics.ts): each topic's last and first seqs, kept 30 days past
-- its newest message's expiry (kept_until) so that a client holding a seq is not handed
-- it again for another message, as Redis keeps them; and its recent messages, removed by
-- size at each append and by time to live at each sweep (through topic_messages_by_expiry).
CREATE TABLE IF NOT EXISTS topic_seqs (topic TEXT PRIMARY KEY, last INTEGER NOT NULL, first INTEGER NOT NULL, kept_until INTEGER NOT NULL) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS topic_seqs_by_kept_until ON topic_seqs (kept_until);
CREATE TABLE IF NOT EXISTS topic_messages (
  topic TEXT NOT NULL,
  seq INTEGER NOT NULL,
  id TEXT NOT NULL,
  data TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL,
  PRIMARY KEY (topic, seq)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS topic_messages_by_expiry ON topic_messages (expires_at);

-- One row that checkWritable() rewrites: a real write to the file, so a read-only or
-- failing disk shows up in the readiness check before a sender's append meets it.
CREATE TABLE IF NOT EXISTS write_probe (id INTEGER PRIMARY KEY CHECK (id = 1), written_at INTEGER NOT NULL);
`

/** Fills status_counts once, when the table is new (a new file, or one written before it existed). */
export const SEED_COUNTS = `
INSERT INTO status_counts (status, n)
  SELECT value, (SELECT COUNT(*) FROM messages WHERE status = value)
  FROM json_each('["queued", "delivered", "acked", "expired"]')
  WHERE NOT EXISTS (SELECT 1 FROM status_counts);
`

export interface Row {
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

/** The columns a MessageNotice needs, for RETURNING and SELECT lists. */
export const NOTICE_COLUMNS = 'id, uid, seq, created_at, expires_at, delivered_at'

export type NoticeRow = Pick<Row, 'id' | 'uid' | 'seq' | 'created_at' | 'expires_at' | 'delivered_at'>

export function toNotice(row: NoticeRow): MessageNotice {
  const notice: MessageNotice = { id: row.id, uid: row.uid, seq: row.seq, createdAt: row.created_at, expiresAt: row.expires_at }
  if (row.delivered_at !== null) notice.deliveredAt = row.delivered_at
  return notice
}

export function toMessage(row: Row, now: number): StoredMessage {
  const message: StoredMessage = {
    id: row.id, uid: row.uid, seq: row.seq, data: row.data,
    createdAt: row.created_at, expiresAt: row.expires_at, status: row.status,
  }
  if (row.delivered_at !== null) message.deliveredAt = row.delivered_at
  if (row.acked_at !== null) message.ackedAt = row.acked_at
  if (row.expired_at !== null) message.expiredAt = row.expired_at
  return asOf(message, now)
}
