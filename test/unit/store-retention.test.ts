// Retention of the SQLite store: what is acknowledged or expired is deleted after
// keepClosedMs, and the file gives the space back, so a long-running hub's file does not
// grow without end.
import assert from 'node:assert/strict'
import { statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'node:test'
import { SqliteStore } from '../../lib/store/sqlite.js'
import { tempDir } from '../support/fixtures.js'

const dir = tempDir('retention')

test('the SQLite file shrinks back once acknowledged and expired messages are forgotten, cycle after cycle', async () => {
  const path = join(dir, 'cycles.db')
  const options = { path, maxPerUser: 10_000, keepClosedMs: 0 }
  const data = 'x'.repeat(1024)
  const sizes: Array<{ full: number; swept: number }> = []
  let now = Date.now()
  for (let cycle = 0; cycle < 3; cycle++) {
    let store = new SqliteStore(options)
    // Users 0-9 acknowledge their messages; users 10-19 never connect, theirs expire.
    const batch = Array.from({ length: 2000 }, (_, i) => ({ uid: `user-${i % 20}`, data, ttlMs: i % 20 < 10 ? 60_000 : 1 }))
    const stored = await store.append(batch, now)
    // Closing checkpoints the write-ahead log into the file: its size is then the data's.
    await store.close()
    const full = statSync(path).size

    store = new SqliteStore(options)
    for (let user = 0; user < 10; user++) {
      const seqs = stored.filter((m) => m.uid === `user-${user}`).map((m) => m.seq)
      await store.ack(`user-${user}`, Math.max(...seqs), now)
    }
    now += 1000
    const { expired, forgotten } = await store.sweep(now)
    assert.equal(expired, 1000, 'the unacknowledged messages outlived their 1 ms TTL')
    assert.equal(forgotten, 2000, 'with keepClosedMs 0, acknowledged and expired messages are deleted at once')
    await store.close()
    sizes.push({ full, swept: statSync(path).size })
  }
  for (const { full, swept } of sizes) assert.ok(swept < full / 2, `swept file ${swept} B is under half of the full ${full} B`)
  // Three cycles of 2 MB each: the file stays the size of one cycle.
  assert.ok(sizes[2]!.full <= sizes[0]!.full * 1.2, `file after 3 cycles ${sizes[2]!.full} B vs after 1 cycle ${sizes[0]!.full} B`)
})
