// How a node watches one of its Redis connections: a log line when it is lost and when
// it is back (not one per failed attempt), and a count of reconnections.
import type { Redis } from 'ioredis'

export interface LinkLog {
  info(message: string): void
  warn(message: string): void
}

export function watchLink(client: Redis, role: string, log: LinkLog, onReconnecting: () => void = () => {}): void {
  let wasReady = false
  client.on('ready', () => {
    if (wasReady) return
    wasReady = true
    log.info(`Redis ${role} connection ready`)
  })
  client.on('close', () => {
    if (!wasReady) return
    wasReady = false
    log.warn(`Redis ${role} connection lost; reconnecting`)
  })
  client.on('reconnecting', onReconnecting)
  // ioredis reports every failed attempt as an error; the lines above say what matters, once.
  client.on('error', () => {})
}
