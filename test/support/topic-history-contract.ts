// The behaviour every engine's topic history must have (MessageStore.topics); each
// engine's store test file runs it, next to the store contract.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { firstSeq, type MessageStore } from '../../lib/store/store.js'
import type { TopicHistory, TopicHistoryPage } from '../../lib/store/topic-history.js'
import { recoveredFrom } from '../../lib/topics/recovery.js'
import { CONTRACT_OPTIONS } from './store-contract.js'

/** The hub's rule (lib/topics/recovery.ts) on a page the history gave after `afterSeq`. */
const recovered = (afterSeq: number, page: TopicHistoryPage) => recoveredFrom(afterSeq, page.messages[0]?.seq ?? page.lastSeq + 1, page.firstSeq)

const MINUTE = 60_000
/** Small, so that trimming shows after a few appends. */
export const TOPIC_CONTRACT_OPTIONS = { ...CONTRACT_OPTIONS, maxPerTopic: 4 }

export interface TopicEngine {
  /** Whether sweep() deletes expired messages (SQLite) or leaves them to reads, trims and key expiry (Redis: 0). */
  sweepRemoves: boolean
}

/** `open()` makes a fresh, empty store with TOPIC_CONTRACT_OPTIONS; `dispose` removes its data. */
export function topicHistoryContract(engine: string, { sweepRemoves }: TopicEngine, open: () => Promise<MessageStore>, dispose: () => Promise<void> = async () => {}): void {
  describe(`TopicHistory contract: ${engine}`, () => {
    let store: MessageStore
    let topics: TopicHistory
    const t0 = 1_800_000_000_000
    /** The seq of a topic's nth message when its first was stored at t0. */
    const nth = (n: number) => firstSeq(t0) + n - 1
    const message = (topic: string, data: string, ttlMs = MINUTE) => ({ topic, data, ttlMs })
    /** Appends `count` messages to `topic` at `now`, data "<prefix>1", "<prefix>2"... */
    const fill = (topic: string, count: number, now = t0, ttlMs = MINUTE, prefix = 'm') =>
      topics.append(Array.from({ length: count }, (_, i) => message(topic, `${prefix}${i + 1}`, ttlMs)), now)
    before(async () => {
      store = await open()
      topics = store.topics
    })
    after(async () => {
      await store.close()
      await dispose()
    })

    test('seqs start at firstSeq(now), are contiguous per topic, and each topic counts its own', async () => {
      const stored = await topics.append([message('news', 'n1'), message('sport', 's1'), message('news', 'n2')], t0)
      assert.deepEqual(stored.map((m) => [m.topic, m.seq, m.data, m.createdAt, m.expiresAt]), [
        ['news', nth(1), 'n1', t0, t0 + MINUTE], ['sport', nth(1), 's1', t0, t0 + MINUTE], ['news', nth(2), 'n2', t0, t0 + MINUTE],
      ])
      assert.equal(new Set(stored.map((m) => m.id)).size, 3)
      // Later appends carry on from the topic's last seq; a new topic starts at its own now.
      const [n3, weather] = await topics.append([message('news', 'n3'), message('weather', 'w1')], t0 + 5)
      assert.equal(n3!.seq, nth(3))
      assert.equal(weather!.seq, firstSeq(t0 + 5))
    })

    test('concurrent appends to one topic get seqs in the order they were called', async () => {
      const calls = await Promise.all(Array.from({ length: 5 }, (_, i) =>
        topics.append([message('race', `c${i}a`), message('race', `c${i}b`)], t0)))
      assert.deepEqual(calls.flat().map((m) => m.seq), Array.from({ length: 10 }, (_, i) => nth(i + 1)))
      // Trimmed to maxPerTopic, still in call order.
      const { messages } = await topics.after('race', 0, 10, t0)
      assert.deepEqual(messages.map((m) => m.data), ['c3a', 'c3b', 'c4a', 'c4b'])
    })

    test('after() pages in seq order, up to the limit, with the topic\'s last and first seqs; an unknown topic has none', async () => {
      const stored = await fill('pages', 4)
      const first = await topics.after('pages', 0, 3, t0 + 1)
      assert.deepEqual(first, { messages: stored.slice(0, 3), lastSeq: nth(4), firstSeq: nth(1) })
      const rest = await topics.after('pages', first.messages.at(-1)!.seq, 3, t0 + 1)
      assert.deepEqual(rest, { messages: stored.slice(3), lastSeq: nth(4), firstSeq: nth(1) })
      assert.deepEqual(await topics.after('pages', nth(4), 3, t0 + 1), { messages: [], lastSeq: nth(4), firstSeq: nth(1) })
      assert.deepEqual(await topics.after('nobody-here', 0, 10, t0), { messages: [], lastSeq: 0, firstSeq: 0 })
    })

    test('expired messages are not returned, and do not take a place in the limit', async () => {
      const stored = await topics.append([
        message('fading', 'short1', 1000), message('fading', 'long1'), message('fading', 'short2', 1000), message('fading', 'long2'),
      ], t0)
      assert.equal((await topics.after('fading', 0, 10, t0 + 999)).messages.length, 4)
      // At its expiry a message is gone, as a user's is.
      assert.deepEqual(await topics.after('fading', 0, 10, t0 + 1000), { messages: [stored[1], stored[3]], lastSeq: nth(4), firstSeq: nth(1) })
      assert.deepEqual((await topics.after('fading', 0, 1, t0 + 1000)).messages, [stored[1]])
      assert.deepEqual((await topics.after('fading', nth(2), 1, t0 + 1000)).messages, [stored[3]])
    })

    test('a topic keeps its newest maxPerTopic messages; those removed before their ttl count as trimmed', async () => {
      const before = { ...topics.stats }
      await fill('busy', 6)
      assert.deepEqual((await topics.after('busy', 0, 10, t0)).messages.map((m) => m.data), ['m3', 'm4', 'm5', 'm6'])
      assert.deepEqual(topics.stats, { stored: before.stored + 6, trimmed: before.trimmed + 2 })
      // Already expired when pushed out: not trimmed before their time to live.
      await fill('stale', 4, t0, 1000)
      await fill('stale', 2, t0 + 2000, MINUTE, 'fresh')
      assert.deepEqual((await topics.after('stale', 0, 10, t0 + 2000)).messages.map((m) => m.data), ['fresh1', 'fresh2'])
      assert.equal(topics.stats.trimmed, before.trimmed + 2)
    })

    test('recovered: true when a page starts right after the subscriber\'s seq, false when the history lost some', async () => {
      await fill('lossy', 7) // seqs 1..7 (from nth), 1..3 trimmed
      const at = async (seen: number, limit = 10, now = t0) => {
        const page = await topics.after('lossy', seen, limit, now)
        return { seqs: page.messages.map((m) => m.seq - nth(0)), recovered: recovered(seen, page) }
      }
      assert.deepEqual(await at(nth(2)), { seqs: [4, 5, 6, 7], recovered: false })
      assert.deepEqual(await at(nth(3)), { seqs: [4, 5, 6, 7], recovered: true })
      assert.deepEqual(await at(nth(5), 1), { seqs: [6], recovered: true })
      assert.deepEqual(await at(nth(7)), { seqs: [], recovered: true })
      // After 0, the topic's whole stream: the first three are gone, so not recovered.
      assert.deepEqual(await at(0), { seqs: [4, 5, 6, 7], recovered: false })
      // A topic that kept everything it was sent: after 0, nothing is missing.
      await fill('whole', 2)
      assert.equal(recovered(0, await topics.after('whole', 0, 10, t0)), true)
      // Lost to the time to live: one in the middle, then all of them.
      await topics.append([message('gap', 'g1'), message('gap', 'g2', 1000), message('gap', 'g3')], t0)
      assert.equal(recovered(nth(1), await topics.after('gap', nth(1), 10, t0 + 1000)), false)
      assert.equal(recovered(nth(2), await topics.after('gap', nth(2), 10, t0 + 1000)), true)
      assert.equal(recovered(nth(1), await topics.after('gap', nth(1), 10, t0 + MINUTE)), false)
      assert.equal(recovered(nth(3), await topics.after('gap', nth(3), 10, t0 + MINUTE)), true)
    })

    test('data round-trips whatever it holds: colons, quotes, newlines, non-ASCII, nothing', async () => {
      const data = ['a:b::c:', '1:2:3:4:5', '"double" \'single\' `back`', 'line 1\nline 2\r\n\ttab', 'héllo — 日本語 🎉', '', 'nul \u0000 end']
      // One topic each, under maxPerTopic; names with the characters a name may hold besides letters.
      const stored = await topics.append(data.map((d, i) => message(`odd:topic/${i}_x-y.z@w`, d)), t0)
      for (const [i, m] of stored.entries()) {
        assert.deepEqual(await topics.after(m.topic, 0, 10, t0), { messages: [m], lastSeq: m.seq, firstSeq: m.seq })
        assert.equal(m.data, data[i])
      }
    })

    test('a topic name that is not valid refuses the whole append', async () => {
      await assert.rejects(topics.append([message('fine', 'x'), message('not fine', 'y')], t0), { code: 'PUSHER_ERR_INVALID_TOPIC' })
      assert.deepEqual(await topics.after('fine', 0, 10, t0), { messages: [], lastSeq: 0, firstSeq: 0 })
    })

    test('the store\'s sweep sweeps the topics, counted apart from users\' messages; seqs carry on after', async () => {
      // A day on, everything the tests above stored has lapsed: swept first, so the counts below are this test's.
      const t1 = t0 + 24 * 60 * MINUTE
      await store.sweep(t1)
      await topics.append([message('swept', 'short1', 1000), message('swept', 'short2', 1000), message('swept', 'long')], t1)
      assert.equal(await topics.sweep(t1 + 1000), sweepRemoves ? 2 : 0)
      assert.deepEqual((await topics.after('swept', 0, 10, t1 + 1000)).messages.map((m) => m.data), ['long'])
      const later = t1 + 2 * MINUTE
      assert.deepEqual(await store.sweep(later), { expired: 0, forgotten: 0 })
      assert.equal(await topics.sweep(later), 0, 'the store\'s sweep took them')
      assert.deepEqual(await topics.after('swept', 0, 10, later), { messages: [], lastSeq: firstSeq(t1) + 2, firstSeq: firstSeq(t1) })
      const [next] = await topics.append([message('swept', 'next')], later)
      assert.equal(next!.seq, firstSeq(t1) + 3)
    })
  })
}
