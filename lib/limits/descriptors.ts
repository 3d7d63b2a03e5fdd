// The process's file-descriptor budget, which every socket, the Redis links and the
// SQLite file draw from. Linux reports it in /proc/self; elsewhere it is unknown and
// the caller falls back to fixed defaults.
import { readdirSync, readFileSync } from 'node:fs'

/** The soft limit on open files (what `ulimit -n` shows), or undefined where it cannot be read. */
export function descriptorLimit(): number | undefined {
  try {
    const line = readFileSync('/proc/self/limits', 'utf8').split('\n').find((l) => l.startsWith('Max open files'))
    const soft = line?.slice('Max open files'.length).trim().split(/\s+/)[0]
    if (soft === undefined || soft === 'unlimited') return undefined
    const limit = Number(soft)
    return Number.isSafeInteger(limit) && limit > 0 ? limit : undefined
  } catch {
    return undefined
  }
}

/** Descriptors open now, or undefined where it cannot be read. */
export function openDescriptors(): number | undefined {
  try {
    return readdirSync('/proc/self/fd').length
  } catch {
    return undefined
  }
}

/** Descriptors kept free of WebSocket connections: for senders, /metrics, Redis, SQLite and logs. */
export function descriptorHeadroom(limit: number): number {
  return Math.max(128, Math.floor(limit / 10))
}

/** PUSHER_MAX_CONNECTIONS when it is not set: the descriptor limit less the headroom. */
export function defaultMaxConnections(limit: number | undefined): number {
  if (limit === undefined) return 10_000
  return Math.max(1, limit - descriptorHeadroom(limit))
}
