// Whether the Redis that keeps durable messages (cluster mode) keeps them across its own
// restart. A message answered 202 (queued) lives only in Redis until its user connects:
// a Redis with neither AOF nor RDB snapshots forgets it on a restart, and no one is told.
// The check reads CONFIG; a managed Redis that refuses CONFIG is asked INFO persistence,
// which shows AOF but not whether RDB save points are set. It never throws.
import type { Redis } from 'ioredis'
import type { LinkLog } from './link.js'

export type PersistenceState = 'persistent' | 'not_persistent' | 'unknown'

export interface PersistenceCheck {
  state: PersistenceState
  /** What was found, or why nothing could be, in words for a log line. */
  detail: string
}

/** The whole check (two or three commands) answers within this, or says 'unknown'. */
export const PERSISTENCE_CHECK_TIMEOUT_MS = 2000

/** Asks `redis` whether it persists its data: AOF (`appendonly yes`) or RDB snapshots (`save` points). */
export async function checkPersistence(redis: Redis, timeoutMs = PERSISTENCE_CHECK_TIMEOUT_MS): Promise<PersistenceCheck> {
  let timer: NodeJS.Timeout | undefined
  const late = new Promise<PersistenceCheck>((resolve) => {
    timer = setTimeout(() => resolve({ state: 'unknown', detail: `Redis did not answer within ${timeoutMs} ms` }), timeoutMs)
  })
  try {
    return await Promise.race([inspect(redis), late])
  } catch (error) {
    return { state: 'unknown', detail: `the check failed: ${message(error)}` }
  } finally {
    clearTimeout(timer)
  }
}

async function inspect(redis: Redis): Promise<PersistenceCheck> {
  let why: string
  try {
    const [appendonly, save] = await Promise.all([configValue(redis, 'appendonly'), configValue(redis, 'save')])
    if (appendonly !== undefined && save !== undefined) return fromConfig(appendonly, save)
    why = 'CONFIG GET does not return appendonly and save'
  } catch (error) {
    if (!refused(error)) return unreachable(error)
    why = `CONFIG is refused (${message(error)})`
  }
  let info: string
  try {
    info = await redis.info('persistence')
  } catch (error) {
    if (!refused(error)) return unreachable(error)
    return { state: 'unknown', detail: `${why}, and so is INFO (${message(error)})` }
  }
  return fromInfo(info, why)
}

function fromConfig(appendonly: string, save: string): PersistenceCheck {
  const aof = appendonly.trim().toLowerCase() === 'yes'
  const points = save.trim()
  if (aof && points !== '') return { state: 'persistent', detail: `AOF is on (appendonly yes) and RDB snapshots too (save "${points}")` }
  if (aof) return { state: 'persistent', detail: 'AOF is on (appendonly yes)' }
  if (points !== '') {
    return { state: 'persistent', detail: `RDB snapshots are on (save "${points}"), AOF is off: what was queued since the last snapshot is lost if Redis crashes` }
  }
  return { state: 'not_persistent', detail: `neither AOF nor RDB snapshots: appendonly is "${appendonly}", save is ""` }
}

/**
 * INFO persistence says whether AOF is on (aof_enabled), but nothing of the save points:
 * rdb_last_save_time is set at startup even with `save ""`, and rdb_saves counts every
 * snapshot, a BGSAVE by hand or for a replica included. So AOF off is 'unknown', not
 * 'not_persistent': a managed Redis may well take snapshots, and only its console says so.
 */
function fromInfo(info: string, why: string): PersistenceCheck {
  const fields = new Map<string, string>()
  for (const line of info.split(/\r?\n/)) {
    const at = line.indexOf(':')
    if (at > 0) fields.set(line.slice(0, at), line.slice(at + 1).trim())
  }
  const aof = fields.get('aof_enabled')
  if (aof === '1') return { state: 'persistent', detail: `AOF is on (INFO persistence: aof_enabled:1; ${why})` }
  if (aof === undefined) return { state: 'unknown', detail: `${why}, and INFO persistence has no aof_enabled field` }
  const saves = fields.get('rdb_saves')
  return {
    state: 'unknown',
    detail: `${why}; INFO persistence says AOF is off (aof_enabled:${aof}) but cannot show whether RDB save points are set` +
      (saves === undefined ? '' : ` (rdb_saves:${saves} since Redis started)`),
  }
}

/** A parameter's value from CONFIG GET, whether the reply is a flat [name, value] list (RESP2, or RESP3 as ioredis maps it by default) or an object. */
async function configValue(redis: Redis, name: string): Promise<string | undefined> {
  const reply: unknown = await redis.config('GET', name)
  if (Array.isArray(reply)) {
    for (let i = 0; i + 1 < reply.length; i += 2) if (String(reply[i]).toLowerCase() === name) return String(reply[i + 1])
    return undefined
  }
  if (reply !== null && typeof reply === 'object') {
    const value = (reply as Record<string, unknown>)[name]
    return value === undefined ? undefined : String(value)
  }
  return undefined
}

/** Redis answered, with an error (unknown or renamed command, NOPERM): not a connection problem. */
function refused(error: unknown): boolean {
  return error instanceof Error && error.name === 'ReplyError'
}

function unreachable(error: unknown): PersistenceCheck {
  return { state: 'unknown', detail: `Redis did not answer (${message(error)})` }
}

function message(error: unknown): string {
  return (error instanceof Error ? error.message : String(error)).trim()
}

/** The log line for a check's outcome: a warning when Redis would lose the queued messages. */
export function persistenceLogLine(check: PersistenceCheck): { level: 'info' | 'warn'; message: string } {
  switch (check.state) {
    case 'persistent':
      return { level: 'info', message: `Redis persistence: ${check.detail}` }
    case 'not_persistent':
      return {
        level: 'warn',
        message: `Redis has no persistence (${check.detail}): durable messages answered 202 (queued) are kept only in Redis memory ` +
          'and will be lost, without a trace, when Redis restarts. Turn on AOF (appendonly yes) or RDB snapshots ' +
          '(save points, e.g. save 60 1000) in the Redis configuration; on a managed Redis, enable its persistence or backups.',
      }
    case 'unknown':
      return {
        level: 'info',
        message: `Redis persistence could not be verified (${check.detail}). If Redis has neither AOF (appendonly yes) nor ` +
          'RDB snapshots (save points), durable messages answered 202 (queued) will not survive a Redis restart.',
      }
  }
}

/**
 * Checks once and logs the outcome. With the connection up, resolves once the line is
 * logged (the check is bounded in time); with Redis not reachable yet, says so, resolves
 * at once, and checks when the connection first comes up. Resolves with a function that
 * drops a check not yet logged (call it on close).
 */
export async function reportPersistence(redis: Redis, log: LinkLog): Promise<() => void> {
  let cancelled = false
  const run = async () => {
    const check = await checkPersistence(redis)
    if (cancelled) return
    const line = persistenceLogLine(check)
    log[line.level](line.message)
  }
  if (redis.status === 'ready') {
    await run()
    return () => { cancelled = true }
  }
  log.info(`Redis persistence could not be verified yet (the connection is ${redis.status}): it is checked when Redis is reachable`)
  const onReady = () => void run().catch(() => {})
  redis.once('ready', onReady)
  return () => {
    cancelled = true
    redis.off('ready', onReady)
  }
}
