// Small helpers the configuration files share.
import { PusherError } from '../errors.js'

/** Stops registration with a message that says what to set. */
export const fail = (message: string): never => {
  throw new PusherError.CONFIG(message)
}

/** A comma-separated variable, or a list option, as trimmed non-empty items. */
export function splitList(value: string | string[] | undefined): string[] {
  const items = Array.isArray(value) ? value : (value ?? '').split(',')
  return items.map((item) => item.trim()).filter((item) => item.length > 0)
}
