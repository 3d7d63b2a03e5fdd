// The SQLite engine: the shared contract, plus what only a file can show: messages
// outlive the process, even one killed with SIGKILL right after an append resolved.
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { rmSync } from 'node:fs'
import { once } from 'node:events'
import { join } from 'node:path'
import { test } from 'node:test'
import type Database from 'better-sqlite3'
import { SqliteStore } from '../../lib/store/sqlite.js'
import { SEQ_KEPT_AFTER_MS } from '../../lib/store/topic-history.js'
import { firstSeq } from '../../lib/store/store.js'
import { timedStore } from '../../lib/store/timing.js'
import { tempDir } from '../support/fixtures.js'
import { loaderArgs, modulePath } from '../support/paths.js'
import { CONTRACT_OPTIONS, storeContract } from '../support/store-contract.js'
import { TOPIC_CONTRACT_OPTIONS, topicHistoryContract } from '../support/topic-history-contract.js'

const dir = tempDir('store')
let files = 0
const newPath = () => join(dir, `store-${files++}.db`)

storeContract('SQLite', async () => new SqliteStore({ path: newPath(), ...CONTRACT_OPTIONS }))
topicHistoryContract('SQLite', { sweepRemoves: true }, async () => new SqliteStore({ path: newPath(), ...TOPIC_CONTRACT_OPTIONS }))

test('messages survive closing and reopening the file', async () => {
  const path = newPath()
  const first = new SqliteStore({ path, ...CONTRACT_OPTIONS })
  const [stored] = await first.append([{ uid: 'fay', data: 'kept', ttlMs: 60_000 }])
  await first.close()
  const second = new SqliteStore({ path, ...CONTRACT_OPTIONS })
  assert.equal((await second.get(stored!.id))?.data, 'kept')
  // The per-user sequence carries on where it stopped.
  const [next] = await second.append([{ uid: 'fay', data: 'next', ttlMs: 60_000 }])
  assert.equal(next!.seq, stored!.seq + 1)
  await second.close()
})

test('a topic\'s history survives closing and reopening the file, its seqs carry on, and an append asked before close() is kept', async () => {
  const path = newPath()
  const t = Date.now()
  const first = new SqliteStore({ path, ...TOPIC_CONTRACT_OPTIONS })
  const stored = await first.topics.append([{ topic: 'news', data: 'one', ttlMs: 60_000 }, { topic: 'news', data: 'two', ttlMs: 60_000 }], t)
  // Not yet committed when close() is called: close commits it first.
  const late = first.topics.append([{ topic: 'news', data: 'three', ttlMs: 60_000 }], t)
  await first.close()
  stored.push(...await late)
  const second = new SqliteStore({ path, ...TOPIC_CONTRACT_OPTIONS })
  assert.deepEqual(await second.topics.after('news', 0, 10, t), { messages: stored, lastSeq: stored[2]!.seq, firstSeq: stored[0]!.seq })
  const [next] = await second.topics.append([{ topic: 'news', data: 'four', ttlMs: 60_000 }], t + 1)
  assert.equal(next!.seq, stored[2]!.seq + 1)
  await second.close()
})

test('a topic\'s seqs are kept 30 days past its newest message\'s expiry, then forgotten by the sweep, as Redis lets them expire', async () => {
  const store = new SqliteStore({ path: newPath(), ...TOPIC_CONTRACT_OPTIONS })
  const t = 1_800_000_000_000
  const [short] = await store.topics.append([{ topic: 'quiet', data: 'short', ttlMs: 60_000 }], t)
  const [long] = await store.topics.append([{ topic: 'quiet', data: 'long', ttlMs: 3_600_000 }], t)
  // Its messages are gone, its seqs stay: a client resuming with one is not handed it again.
  const afterMessages = t + 3_600_000
  await store.sweep(afterMessages)
  assert.deepEqual(await store.topics.after('quiet', 0, 10, afterMessages), { messages: [], lastSeq: long!.seq, firstSeq: short!.seq })
  const forgotten = t + 3_600_000 + SEQ_KEPT_AFTER_MS
  await store.sweep(forgotten - 1)
  assert.equal((await store.topics.after('quiet', 0, 10, forgotten - 1)).lastSeq, long!.seq)
  await store.sweep(forgotten)
  assert.deepEqual(await store.topics.after('quiet', 0, 10, forgotten), { messages: [], lastSeq: 0, firstSeq: 0 })
  // It starts again above every seq it had.
  const [again] = await store.topics.append([{ topic: 'quiet', data: 'again', ttlMs: 60_000 }], forgotten)
  assert.equal(again!.seq, firstSeq(forgotten))
  assert.ok(again!.seq > long!.seq)
  await store.close()
})

test('a turn\'s topic appends are written in one transaction, each topic\'s in call order', async () => {
  const store = new SqliteStore({ path: newPath(), ...TOPIC_CONTRACT_OPTIONS })
  // better-sqlite3 has no commit hook: count the calls of the history's one transaction.
  const history = store.topics as unknown as { commitTurn: (...args: unknown[]) => unknown }
  const transaction = history.commitTurn
  let commits = 0
  history.commitTurn = (...args) => (commits++, transaction(...args))
  const calls = await Promise.all(Array.from({ length: 20 }, (_, i) => store.topics.append([{ topic: `t${i % 3}`, data: `${i}`, ttlMs: 60_000 }], 1)))
  assert.equal(commits, 1)
  for (let topic = 0; topic < 3; topic++) {
    const seqs = calls.flat().filter((m) => m.topic === `t${topic}`).map((m) => m.seq)
    assert.deepEqual(seqs, seqs.map((_, i) => firstSeq(1) + i))
  }
  await store.topics.append([{ topic: 't0', data: 'next turn', ttlMs: 60_000 }], 1)
  assert.equal(commits, 2)
  await store.close()
})

test('a store whose file was deleted gives a returning user seqs above every old one', async () => {
  const path = newPath()
  const old = new SqliteStore({ path, ...CONTRACT_OPTIONS })
  const before = await old.append(Array.from({ length: 50 }, (_, i) => ({ uid: 'ida', data: `old ${i}`, ttlMs: 60_000 })))
  await old.close()
  rmSync(path)
  // A client that saw the old messages resumes after the last of them: what the new
  // file stores a moment later must come after it, or the client would skip it.
  const wiped = new SqliteStore({ path, ...CONTRACT_OPTIONS })
  const [fresh] = await wiped.append([{ uid: 'ida', data: 'new', ttlMs: 60_000 }], Date.now() + 1)
  assert.ok(fresh!.seq > before.at(-1)!.seq, `${fresh!.seq} > ${before.at(-1)!.seq}`)
  await wiped.close()
})

test('a message whose append resolved survives SIGKILL of the process that stored it', { timeout: 30_000 }, async () => {
  const path = newPath()
  const script = `
    import { SqliteStore } from ${JSON.stringify(modulePath('lib/store/sqlite.ts'))}
    const store = new SqliteStore({ path: ${JSON.stringify(path)}, maxPerUser: 100, keepClosedMs: 60000 })
    const stored = await store.append([{ uid: 'gus', data: 'must survive', ttlMs: 60000 }])
    process.stdout.write(stored[0].id + '\\n')
    setInterval(() => {}, 1000)
  `
  const child = spawn(process.execPath, [...loaderArgs, '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] })
  const [line] = (await once(child.stdout!, 'data')) as [Buffer]
  child.kill('SIGKILL')
  await once(child, 'exit')
  const store = new SqliteStore({ path, ...CONTRACT_OPTIONS })
  const message = await store.get(line.toString().trim())
  assert.equal(message?.data, 'must survive')
  assert.equal(message?.status, 'queued')
  await store.close()
})

test('the timed store settles once the updates fired without waiting have landed or failed', async () => {
  const store = timedStore(new SqliteStore({ path: newPath(), ...CONTRACT_OPTIONS }))
  await store.settled() // nothing in flight: at once
  const [message] = await store.append([{ uid: 'ivy', data: 'hello', ttlMs: 60_000 }])
  // What the hub does after a write: mark it delivered, and not wait.
  void store.markDelivered([message!.id])
  void store.ack('ivy', message!.seq)
  await store.settled()
  assert.equal((await store.get(message!.id))!.status, 'acked')

  // Topic appends and reads are timed and counted in flight like the rest.
  const timed: string[] = []
  store.recordDuration = (operation) => timed.push(operation)
  void store.topics.append([{ topic: 'news', data: 'hello', ttlMs: 60_000 }])
  await store.settled()
  assert.deepEqual(timed, ['topic_append'])
  assert.equal((await store.topics.after('news', 0, 10)).messages[0]!.data, 'hello')
  assert.deepEqual(timed, ['topic_append', 'topic_after'])
  assert.deepEqual(store.topics.stats, { stored: 1, trimmed: 0 })

  // A failed update settles too: a closed database refuses it.
  await store.close()
  const refused = store.markDelivered(['gone']).then(() => 'landed', () => 'failed')
  await store.settled()
  assert.equal(await refused, 'failed')
})

test('checkWritable rejects, as appends do, once the database cannot be written; and resolves again after', async () => {
  const store = new SqliteStore({ path: newPath(), ...CONTRACT_OPTIONS })
  await store.checkWritable()
  // query_only refuses writes with SQLITE_READONLY, the error a file system remounted
  // read-only gives: the store's own connection is the only way to make it so here.
  const db = (store as unknown as { db: Database.Database }).db
  db.pragma('query_only = ON')
  await assert.rejects(store.checkWritable(), /readonly/)
  await assert.rejects(store.append([{ uid: 'ivy', data: 'lost', ttlMs: 60_000 }]), /readonly/)
  db.pragma('query_only = OFF')
  await store.checkWritable()
  await store.close()
  // A closed store cannot write either.
  await assert.rejects(store.checkWritable(), /not open/)
})
