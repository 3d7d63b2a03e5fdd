// Where each framed connection is in each topic's stream of stored messages. A publish
// with a time to live is kept in its topic's history with a seq (lib/store/topic-history.ts),
// and a framed subscriber gets each such message once, in ascending seq:
//
// - A subscribe frame opens the stream. The topic's live messages to that connection are
//   held back while the history is read: after the client's `since` (what it missed while
//   away is written first), or only for the topic's last seq, which the answer gives the
//   client to resume from next time. Then what was held goes out, minus what was written.
// - A live message ahead of the next one due (two nodes published at once, a relay was
//   lost) is held while the gap is read from the history. Connections that share a gap
//   share the read: a topic with thousands of subscribers on a node costs one query.
//
// Plain clients get topic messages as they come: they have no seq to resume from.
import { performance } from 'node:perf_hooks'
import { type Connection, inSeqOrder, type ReplayedMessage } from './connection.js'
import type { MessageFrames } from './envelope.js'
import { recoveredFrom } from '../topics/recovery.js'

/** Stored messages read per query while a stream catches up. */
export const TOPIC_PAGE = 200

/** What the hub reads a topic's history with (the store plugin provides it). */
export interface TopicHistoryReader {
  /** The kept messages of `topic` after `afterSeq`, oldest first (at most `limit`), and the topic's last and first seqs (0: none). */
  after(topic: string, afterSeq: number, limit: number): Promise<{ messages: ReplayedMessage[]; lastSeq: number; firstSeq: number }>
  /**
   * In a cluster: resolves once this node listens to every topic it has subscribers to,
   * so that a message stored after the read that follows is heard live.
   */
  settled?(): Promise<void>
  /** Where a failed read is reported (the reader's own problem: the subscription stays live). */
  warn(message: string): void
}

export interface TopicStream {
  /** Every stored message of the topic up to this seq was written to the connection, skipped as older, or said seen. */
  seq: number
  /** While the history is read: live messages of the topic, written after it; null otherwise. */
  held: MessageFrames[] | null
}

/** Where a subscribe left the client in the topic's stream. */
export interface OpenedStream {
  /** The topic's seq the client is at now: the `since` of its next subscribe. */
  seq: number
  /** Only for a subscribe with `since`: true when every message after it was still kept, and written. */
  recovered?: boolean
}

export interface TopicStreamsOwner {
  /** Unsent bytes a catch-up writes before it waits for the client to read them. */
  readonly room: number
  /** Messages written from a topic's history, for the metrics. */
  replayed(count: number): void
}

type Page = Awaited<ReturnType<TopicHistoryReader['after']>>

export class TopicStreams {
  /** Set once a store keeps topic history; until then no stream is opened or caught up. */
  reader: TopicHistoryReader | undefined = undefined
  /** Reads in flight, by topic and seq: connections that need the same page share it. */
  private readonly reads = new Map<string, Promise<Page>>()

  constructor(private readonly owner: TopicStreamsOwner) {}

  /**
   * A topic message for a framed subscriber: written, held, or skipped (the client has
   * it). Returns false when the connection refused it (closing, or a slow consumer).
   */
  offer(connection: Connection, topic: string, frames: MessageFrames, sentAt: number): boolean {
    const meta = frames.meta
    const stream = connection.topicStreams?.get(topic)
    if (stream === undefined) {
      if (!connection.enqueue(frames.for(true), sentAt)) return false
      // Its first stored message: from here on the connection's seqs of the topic are followed.
      if (meta !== undefined) (connection.topicStreams ??= new Map()).set(topic, { seq: meta.seq, held: null })
      return true
    }
    if (meta !== undefined && meta.seq <= stream.seq) return true
    if (stream.held !== null) return this.hold(connection, stream, frames)
    if (meta !== undefined && meta.seq > stream.seq + 1 && this.reader !== undefined) {
      stream.held = []
      if (!this.hold(connection, stream, frames)) return false
      this.catchUp(connection, topic, stream)
        .catch((error: Error) => this.reader?.warn(`filling a gap in topic ${topic} for ${connection.uid} failed: ${error.message}`))
        .finally(() => this.release(connection, topic, stream))
      return true
    }
    if (!connection.enqueue(frames.for(true), sentAt)) return false
    if (meta !== undefined) stream.seq = meta.seq
    return true
  }

  /**
   * Opens the connection's stream of `topic` (just subscribed, or asked again) at `since`
   * (what it missed is written first) or at the topic's last seq. Undefined when no
   * history is kept. Never rejects: a failed read leaves the subscription live and says
   * it did not recover.
   */
  open(connection: Connection, topic: string, since: number | undefined): Promise<OpenedStream> | undefined {
    if (this.reader === undefined || !connection.framed) return undefined
    const streams = (connection.topicStreams ??= new Map())
    const existing = streams.get(topic)
    if (existing !== undefined) return Promise.resolve(this.reopen(existing, since))
    const stream: TopicStream = { seq: since ?? 0, held: [] }
    streams.set(topic, stream)
    return this.start(connection, topic, stream, since)
  }

  /** Forgets the connection's stream of `topic` (it unsubscribed), with what it held. */
  forget(connection: Connection, topic: string): void {
    const stream = connection.topicStreams?.get(topic)
    if (stream === undefined) return
    connection.topicStreams!.delete(topic)
    for (const frames of stream.held ?? []) connection.heldBytes -= frames.message.length
    stream.held = null
  }

  private async start(connection: Connection, topic: string, stream: TopicStream, since: number | undefined): Promise<OpenedStream> {
    try {
      // Listening first: a message stored after the read below is then heard live.
      await this.reader!.settled?.()
      if (since === undefined) {
        const { lastSeq } = await this.read(topic, Number.MAX_SAFE_INTEGER)
        stream.seq = Math.max(stream.seq, lastSeq)
        return { seq: stream.seq }
      }
      const first = await this.catchUp(connection, topic, stream)
      return { seq: stream.seq, recovered: first !== undefined && recoveredFrom(since, first.kept, first.topic) }
    } catch (error) {
      this.reader?.warn(`reading the history of topic ${topic} for ${connection.uid} failed: ${(error as Error).message}`)
      return since === undefined ? { seq: stream.seq } : { seq: stream.seq, recovered: false }
    } finally {
      this.release(connection, topic, stream)
    }
  }

  /**
   * A subscribe for a stream already flowing (the token's topics, an earlier subscribe):
   * what came before its live messages cannot be written in order any more, so a `since`
   * behind them is answered as not recovered.
   */
  private reopen(stream: TopicStream, since: number | undefined): OpenedStream {
    if (since === undefined) return { seq: stream.seq }
    if (since < stream.seq) return { seq: stream.seq, recovered: false }
    stream.seq = since
    return { seq: since, recovered: true }
  }

  /**
   * Writes the kept messages after the stream's seq, page by page, waiting for the client
   * to read when it has `room` unsent bytes. Resolves, from the first read, with the first
   * seq the history kept after the stream's seq and the topic's first seq ever (undefined
   * when the connection went away).
   */
  private async catchUp(connection: Connection, topic: string, stream: TopicStream): Promise<{ kept: number; topic: number } | undefined> {
    let after = stream.seq
    let first: { kept: number; topic: number } | undefined
    for (;;) {
      const page = await this.read(topic, after)
      first ??= { kept: page.messages[0]?.meta.seq ?? page.lastSeq + 1, topic: page.firstSeq }
      if (!this.watching(connection, topic, stream)) return undefined
      const due = page.messages.filter((m) => m.meta.seq > stream.seq)
      const written = connection.replay(due, performance.now(), this.owner.room, topic)
      if (written > 0) {
        stream.seq = due[written - 1]!.meta.seq
        this.owner.replayed(written)
      }
      if (!connection.writable) return undefined
      if (written < due.length) {
        await connection.drained()
        after = stream.seq
      } else if (page.messages.length < TOPIC_PAGE) {
        return first
      } else {
        after = page.messages[page.messages.length - 1]!.meta.seq
      }
    }
  }

  /** One read per topic and seq at a time, shared by every connection that asks meanwhile. */
  private read(topic: string, after: number): Promise<Page> {
    const key = `${after} ${topic}`
    let read = this.reads.get(key)
    if (read === undefined) {
      read = this.reader!.after(topic, after, TOPIC_PAGE)
      this.reads.set(key, read)
      const done = () => this.reads.delete(key)
      read.then(done, done)
    }
    return read
  }

  private hold(connection: Connection, stream: TopicStream, frames: MessageFrames): boolean {
    const size = frames.message.length
    if (connection.endReason !== undefined || !connection.canHold(size)) return false
    connection.heldBytes += size
    stream.held!.push(frames)
    return true
  }

  /** Writes what was held meanwhile (inSeqOrder), minus the stored messages written already. */
  private release(connection: Connection, topic: string, stream: TopicStream): void {
    const held = stream.held
    stream.held = null
    if (held === null || !this.watching(connection, topic, stream)) return
    for (const frames of held) connection.heldBytes -= frames.message.length
    const now = performance.now()
    for (const frames of inSeqOrder(held)) {
      if (frames.meta !== undefined && frames.meta.seq <= stream.seq) continue
      if (!connection.enqueue(frames.for(true), now)) return
      if (frames.meta !== undefined) stream.seq = frames.meta.seq
    }
  }

  private watching(connection: Connection, topic: string, stream: TopicStream): boolean {
    return !connection.ended && connection.topicStreams?.get(topic) === stream
  }
}
