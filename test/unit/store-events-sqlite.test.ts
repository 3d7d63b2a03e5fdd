// The SQLite engine tells the webhooks what expired unacknowledged and what is still
// unacknowledged after a while: the shared contract, two connections on one file.
import { join } from 'node:path'
import { SqliteStore } from '../../lib/store/sqlite.js'
import { tempDir } from '../support/fixtures.js'
import { storeEventsContract } from '../support/store-events-contract.js'

const dir = tempDir('store-events')
let files = 0

storeEventsContract('SQLite', async (options) => {
  const path = join(dir, `events-${files++}.db`)
  return [new SqliteStore({ path, ...options }), new SqliteStore({ path, ...options })]
})
