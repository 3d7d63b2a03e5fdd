// What every MessageStore engine tells the webhooks: the messages that expired
// unacknowledged (a sweep's, and the per-user limit's), and the ones still open a while
// after they were stored; each once, even when two handles (two nodes) ask at once.
import assert from 'node:assert/strict'
import { after, describe, test } from 'node:test'
import type { ExpiredMessage, MessageStore, StoreOptions } from '../../lib/store/store.js'

const MINUTE = 60_000

/** Two handles on the same fresh, empty data (two nodes sharing one store), opened with `options`. */
export type OpenPair = (options: StoreOptions) => Promise<[MessageStore, MessageStore]>

export function storeEventsContract(engine: string, openPair: OpenPair, dispose: () => Promise<void> = async () => {}): void {
  describe(`MessageStore events: ${engine}`, () => {
    const t0 = 1_800_000_000_000
    const opened: MessageStore[] = []
    const open = async (options: Partial<StoreOptions> = {}) => {
      const pair = await openPair({ maxPerUser: 100, keepClosedMs: 10 * MINUTE, ...options })
      opened.push(...pair)
      return pair
    }
    const listen = (store: MessageStore) => {
      const heard: ExpiredMessage[] = []
      store.onExpired = (messages) => heard.push(...messages)
      return heard
    }
    after(async () => {
      for (const store of opened) await store.close()
      await dispose()
    })

    test('a sweep reports the messages whose ttl ran out before an ack, once, with what happened to them', async () => {
      const [store] = await open()
      const heard = listen(store)
      const [unread, written, acked, later] = await store.append([
        { uid: 'eve', data: 'x', ttlMs: 1000 },
        { uid: 'fox', data: 'x', ttlMs: 1000 },
        { uid: 'gus', data: 'x', ttlMs: 1000 },
        { uid: 'eve', data: 'x', ttlMs: MINUTE },
      ], t0)
      await store.markDelivered([written!.id], t0 + 10)
      await store.ack('gus', acked!.seq, t0 + 20)
      assert.equal(heard.length, 0, 'nothing expired yet')
      await store.sweep(t0 + 1000)
      const byId = new Map(heard.map((m) => [m.id, m]))
      assert.deepEqual([...byId.keys()].sort(), [unread!.id, written!.id].sort(), 'the acknowledged and the unexpired ones are not reported')
      assert.deepEqual(byId.get(unread!.id), {
        id: unread!.id, uid: 'eve', seq: unread!.seq, createdAt: t0, expiresAt: t0 + 1000, expiredAt: t0 + 1000, reason: 'ttl',
      })
      assert.equal(byId.get(written!.id)!.deliveredAt, t0 + 10)
      await store.sweep(t0 + 2000)
      assert.equal(heard.length, 2, 'a later sweep reports nothing again')
      assert.ok(later)
    })

    test('an append past the per-user limit reports the oldest open messages it expired', async () => {
      const [store] = await open({ maxPerUser: 2 })
      const heard = listen(store)
      const [first, second] = await store.append([{ uid: 'hal', data: '1', ttlMs: MINUTE }, { uid: 'hal', data: '2', ttlMs: MINUTE }], t0)
      await store.append([{ uid: 'hal', data: '3', ttlMs: MINUTE }], t0 + 5)
      assert.deepEqual(heard.map((m) => [m.id, m.reason, m.expiredAt]), [[first!.id, 'queue_limit', t0 + 5]])
      await store.append([{ uid: 'hal', data: '4', ttlMs: MINUTE }], t0 + 6)
      assert.deepEqual(heard.map((m) => m.id), [first!.id, second!.id])
    })

    test('claimUnacked returns the messages still open once their time has come, each once', async () => {
      const [store] = await open({ unackedAfterMs: 1000 })
      const [open1, acked, short, delivered] = await store.append([
        { uid: 'ida', data: 'x', ttlMs: MINUTE },
        { uid: 'jon', data: 'x', ttlMs: MINUTE },
        { uid: 'kim', data: 'x', ttlMs: 500 },
        { uid: 'lee', data: 'x', ttlMs: MINUTE },
      ], t0)
      await store.ack('jon', acked!.seq, t0 + 100)
      await store.markDelivered([delivered!.id], t0 + 200)
      assert.deepEqual(await store.claimUnacked!(100, t0 + 999), [], 'not yet due')
      const due = await store.claimUnacked!(100, t0 + 1000)
      assert.deepEqual(due.map((m) => m.id).sort(), [open1!.id, delivered!.id].sort(), 'the acknowledged and the expired ones are not claimed')
      assert.deepEqual(due.find((m) => m.id === open1!.id), { id: open1!.id, uid: 'ida', seq: open1!.seq, createdAt: t0, expiresAt: t0 + MINUTE })
      assert.equal(due.find((m) => m.id === delivered!.id)!.deliveredAt, t0 + 200)
      assert.deepEqual(await store.claimUnacked!(100, t0 + 5000), [], 'claimed once')
      assert.ok(short)
    })

    test('two handles claiming at once share the due messages: each goes to exactly one of them', async () => {
      const [one, two] = await open({ unackedAfterMs: 1000 })
      const stored = await one.append(Array.from({ length: 50 }, (_, i) => ({ uid: `u${i % 7}`, data: 'x', ttlMs: MINUTE })), t0)
      const claims = await Promise.all([1, 2, 3, 4].map((i) => (i % 2 === 0 ? one : two).claimUnacked!(15, t0 + 1000)))
      const rest = await two.claimUnacked!(100, t0 + 1000)
      const ids = [...claims.flat(), ...rest].map((m) => m.id)
      assert.equal(ids.length, 50)
      assert.deepEqual(new Set(ids), new Set(stored.map((m) => m.id)))
    })

    test('without unackedAfterMs nothing is kept for claimUnacked', async () => {
      const [store] = await open()
      await store.append([{ uid: 'max', data: 'x', ttlMs: MINUTE }], t0)
      assert.deepEqual(await store.claimUnacked!(100, t0 + MINUTE - 1), [])
    })
  })
}
