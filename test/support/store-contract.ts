// The behaviour every MessageStore engine must have; each engine's test file runs it.
import assert from 'node:assert/strict'
import { after, before, describe, test } from 'node:test'
import { firstSeq, type MessageStore } from '../../lib/store/store.js'

const MINUTE = 60_000
export const CONTRACT_OPTIONS = { maxPerUser: 5, keepClosedMs: 10 * MINUTE }

/** `open()` makes a fresh, empty store with CONTRACT_OPTIONS; `dispose` removes its data. */
export function storeContract(engine: string, open: () => Promise<MessageStore>, dispose: () => Promise<void> = async () => {}): void {
  describe(`MessageStore contract: ${engine}`, () => {
    let store: MessageStore
    const t0 = 1_800_000_000_000
    /** The seq of a user's nth message when their first was stored at t0. */
    const nth = (n: number) => firstSeq(t0) + n - 1
    before(async () => {
      store = await open()
    })
    after(async () => {
      await store.close()
      await dispose()
    })

    test('append assigns unique ids and per-user seqs in order, and stores before resolving', async () => {
      const stored = await store.append([
        { uid: 'ann', data: 'a1', ttlMs: MINUTE },
        { uid: 'bob', data: 'b1', ttlMs: MINUTE },
        { uid: 'ann', data: 'a2', ttlMs: MINUTE },
      ], t0)
      assert.deepEqual(stored.map((m) => [m.uid, m.seq, m.status]), [['ann', nth(1), 'queued'], ['bob', nth(1), 'queued'], ['ann', nth(2), 'queued']])
      assert.equal(new Set(stored.map((m) => m.id)).size, 3)
      const again = await store.get(stored[2]!.id, t0)
      assert.deepEqual(again, { ...stored[2], expiresAt: t0 + MINUTE })
      // Appends from concurrent senders keep their order within a user.
      const [x, y] = await Promise.all([
        store.append([{ uid: 'ann', data: 'a3', ttlMs: MINUTE }], t0),
        store.append([{ uid: 'ann', data: 'a4', ttlMs: MINUTE }], t0),
      ])
      assert.deepEqual([x![0]!.seq, y![0]!.seq], [nth(3), nth(4)])
    })

    test('a user\'s first seq is above any a wiped store could have given: the time in ms times 1000, plus 1', async () => {
      const [first] = await store.append([{ uid: 'hal', data: 'h1', ttlMs: MINUTE }], t0 + 5)
      assert.equal(first!.seq, (t0 + 5) * 1000 + 1)
    })

    test('lastSeq is the seq of the last message stored for a user, 0 before any, and stays after acks', async () => {
      assert.equal(await store.lastSeq('gil'), 0)
      await store.append([{ uid: 'gil', data: 'g1', ttlMs: MINUTE }, { uid: 'gil', data: 'g2', ttlMs: MINUTE }], t0)
      await store.ack('gil', nth(2), t0)
      assert.equal(await store.lastSeq('gil'), nth(2))
    })

    test('open lists unacknowledged messages after a seq, oldest first, delivered ones included', async () => {
      const [first] = await store.open('ann', 0, 10, t0)
      await store.markDelivered([first!.id], t0 + 1)
      const all = await store.open('ann', 0, 10, t0 + 2)
      assert.deepEqual(all.map((m) => [m.seq, m.data, m.status]), [[nth(1), 'a1', 'delivered'], [nth(2), 'a2', 'queued'], [nth(3), 'a3', 'queued'], [nth(4), 'a4', 'queued']])
      assert.equal(all[0]!.deliveredAt, t0 + 1)
      assert.deepEqual((await store.open('ann', nth(2), 10, t0 + 2)).map((m) => m.seq), [nth(3), nth(4)])
      assert.deepEqual((await store.open('ann', 0, 2, t0 + 2)).map((m) => m.seq), [nth(1), nth(2)])
      assert.deepEqual(await store.open('nobody', 0, 10, t0), [])
    })

    test('one ack covers every message up to its seq, once', async () => {
      assert.equal(await store.ack('ann', nth(3), t0 + 5), 3)
      assert.equal(await store.ack('ann', nth(3), t0 + 6), 0)
      assert.deepEqual((await store.open('ann', 0, 10, t0 + 7)).map((m) => m.seq), [nth(4)])
      // Acknowledging ahead of what exists covers what exists, nothing more.
      assert.equal(await store.ack('bob', nth(99), t0 + 8), 1)
      assert.deepEqual(await store.open('bob', 0, 10, t0 + 8), [])
      const [later] = await store.append([{ uid: 'bob', data: 'b2', ttlMs: MINUTE }], t0 + 9)
      assert.equal(await store.ack('bob', later!.seq, t0 + 10), 1, 'a message stored after an ack past the end can still be acknowledged')
    })

    test('status by id follows a message through acked, and expired', async () => {
      const [acked, lapsing] = await store.append([
        { uid: 'cy', data: 'will be acked', ttlMs: MINUTE },
        { uid: 'cy', data: 'will lapse', ttlMs: MINUTE },
      ], t0)
      await store.markDelivered([acked!.id], t0 + 10)
      await store.ack('cy', acked!.seq, t0 + 20)
      const ackedNow = await store.get(acked!.id, t0 + 30)
      assert.equal(ackedNow!.status, 'acked')
      assert.equal(ackedNow!.deliveredAt, t0 + 10)
      assert.equal(ackedNow!.ackedAt, t0 + 20)
      // Past its TTL a message is expired for readers at once, and for sweep() too.
      const lapsed = await store.get(lapsing!.id, t0 + MINUTE + 1)
      assert.equal(lapsed!.status, 'expired')
      assert.deepEqual(await store.open('cy', 0, 10, t0 + MINUTE + 1), [])
      assert.equal(await store.ack('cy', lapsing!.seq, t0 + MINUTE + 2), 0)
    })

    test('a user over maxPerUser loses the oldest open messages, counted as dropped', async () => {
      const before = store.stats.dropped
      await store.append(Array.from({ length: 7 }, (_, i) => ({ uid: 'dee', data: `d${i + 1}`, ttlMs: MINUTE })), t0)
      const open = await store.open('dee', 0, 10, t0)
      assert.deepEqual(open.map((m) => m.data), ['d3', 'd4', 'd5', 'd6', 'd7'])
      assert.equal(store.stats.dropped - before, 2)
    })

    test('acknowledged and expired messages free their place under maxPerUser', async () => {
      const before = store.stats.dropped
      for (let i = 1; i <= 5; i++) await store.append([{ uid: 'fen', data: `f${i}`, ttlMs: i === 5 ? 1000 : MINUTE }], t0)
      await store.ack('fen', nth(3), t0) // f1..f3 closed: f4, f5 open
      await store.sweep(t0 + 2000) // f5 expired: f4 open
      for (let i = 6; i <= 9; i++) await store.append([{ uid: 'fen', data: `f${i}`, ttlMs: MINUTE }], t0 + 2000)
      assert.equal(store.stats.dropped - before, 0, 'five open: f4, f6..f9')
      await store.append([{ uid: 'fen', data: 'f10', ttlMs: MINUTE }], t0 + 2000)
      assert.equal(store.stats.dropped - before, 1)
      assert.deepEqual((await store.open('fen', 0, 10, t0 + 2000)).map((m) => m.data), ['f6', 'f7', 'f8', 'f9', 'f10'])
    })

    test('sweep expires what outlived its TTL and forgets closed messages after keepClosedMs; seqs are never reused', async () => {
      const [m] = await store.append([{ uid: 'eve', data: 'short', ttlMs: 1000 }], t0)
      const swept = await store.sweep(t0 + 2000)
      assert.ok(swept.expired >= 1)
      assert.equal((await store.get(m!.id, t0 + 2000))!.status, 'expired')
      const later = t0 + 2000 + CONTRACT_OPTIONS.keepClosedMs + 1
      const { forgotten } = await store.sweep(later)
      assert.ok(forgotten >= 1)
      assert.equal(await store.get(m!.id, later), undefined)
      const [next] = await store.append([{ uid: 'eve', data: 'after', ttlMs: MINUTE }], later)
      assert.equal(next!.seq, nth(2))
    })

    test('counts by status follow messages through append, delivered, ack, expiry and forgetting', async () => {
      // A day on, everything the tests above left has lapsed; two sweeps expire it, then forget it.
      const t1 = t0 + 24 * 60 * MINUTE
      await store.sweep(t1)
      const t = t1 + CONTRACT_OPTIONS.keepClosedMs + 1
      await store.sweep(t)
      const counts = (at: number) => store.countByStatus(at)
      assert.deepEqual(await counts(t), { queued: 0, delivered: 0, acked: 0, expired: 0 })
      const stats = { ...store.stats }

      const [m1, m2, , short] = await store.append([
        { uid: 'fin', data: 'f1', ttlMs: MINUTE },
        { uid: 'fin', data: 'f2', ttlMs: MINUTE },
        { uid: 'fin', data: 'f3', ttlMs: MINUTE },
        { uid: 'fin', data: 'short', ttlMs: 1000 },
      ], t)
      assert.deepEqual(await counts(t), { queued: 4, delivered: 0, acked: 0, expired: 0 })
      await store.markDelivered([m1!.id, m2!.id], t + 1)
      assert.deepEqual(await counts(t + 1), { queued: 2, delivered: 2, acked: 0, expired: 0 })
      await store.ack('fin', m1!.seq, t + 2)
      assert.deepEqual(await counts(t + 2), { queued: 2, delivered: 1, acked: 1, expired: 0 })

      // Past its TTL a message counts as expired at once, as get() reports it, and the sweep changes nothing.
      assert.equal((await store.get(short!.id, t + 1000))!.status, 'expired')
      assert.deepEqual(await counts(t + 1000), { queued: 1, delivered: 1, acked: 1, expired: 1 })
      assert.equal((await store.sweep(t + 1000)).expired, 1)
      assert.deepEqual(await counts(t + 1000), { queued: 1, delivered: 1, acked: 1, expired: 1 })
      // A delivered message that is never acknowledged expires too.
      assert.deepEqual(await counts(t + MINUTE), { queued: 0, delivered: 0, acked: 1, expired: 3 })
      await store.sweep(t + MINUTE)
      assert.deepEqual(await counts(t + MINUTE), { queued: 0, delivered: 0, acked: 1, expired: 3 })

      // Dropped for the per-user limit: expired at once.
      await store.append(Array.from({ length: CONTRACT_OPTIONS.maxPerUser + 2 }, (_, i) => ({ uid: 'gil', data: `g${i}`, ttlMs: MINUTE })), t + MINUTE)
      assert.deepEqual(await counts(t + MINUTE), { queued: CONTRACT_OPTIONS.maxPerUser, delivered: 0, acked: 1, expired: 5 })

      // The counters the metrics export moved the same way.
      const moved = Object.fromEntries(Object.entries(store.stats).map(([key, value]) => [key, value - stats[key as keyof typeof stats]]))
      assert.deepEqual(moved, { stored: 4 + CONTRACT_OPTIONS.maxPerUser + 2, delivered: 2, acked: 1, expired: 5, dropped: 2, replayed: 0 })

      // Closed messages are counted until the sweep forgets them.
      const forget = t + MINUTE + CONTRACT_OPTIONS.keepClosedMs
      await store.sweep(forget)
      assert.deepEqual(await counts(forget), { queued: 0, delivered: 0, acked: 0, expired: CONTRACT_OPTIONS.maxPerUser })
    })

    test('checkWritable resolves on a store that can write, and leaves messages, seqs and counts as they were', async () => {
      const t = t0 + 100 * 24 * 60 * MINUTE
      const [before] = await store.append([{ uid: 'hal', data: 'h1', ttlMs: MINUTE }], t)
      const counts = await store.countByStatus(t)
      const stats = { ...store.stats }
      await store.checkWritable(t)
      await store.checkWritable(t + 1)
      assert.deepEqual(await store.countByStatus(t), counts)
      assert.deepEqual(store.stats, stats)
      assert.equal(await store.lastSeq('hal'), before!.seq)
      assert.deepEqual((await store.open('hal', 0, 10, t)).map((m) => m.data), ['h1'])
    })
  })
}
