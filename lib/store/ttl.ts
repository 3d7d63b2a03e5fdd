// The one parser for a send's `ttl`, whatever carried it: a JSON number, a JSON string,
// a form field or a query field (the last two are always strings). Every spelling of
// the same value gets the same answer, and the bounds live here only: the schema
// (routes/schemas.ts) checks no more than "a number or a string".
//
//   a number:  taken by value, as JSON.parse read it (1e3 and 1000.0 are 1000);
//   a string:  decimal digits only, leading zeros allowed and read as decimal ("007" is
//              7, never octal); no sign, space, point, exponent or empty string.
// Either way the result must be a whole number from 1 to MAX_TTL_SECONDS.
import { PusherError } from '../errors.js'

/** 30 days: the longest a durable message may be kept. */
export const MAX_TTL_SECONDS = 2_592_000

const DIGITS = /^[0-9]+$/

/** The ttl in whole seconds; throws PusherError.INVALID_TTL (400) naming `field` otherwise. */
export function ttlSeconds(value: number | string, field = 'ttl'): number {
  const seconds = typeof value === 'number' ? value : typeof value === 'string' && DIGITS.test(value) ? Number(value) : Number.NaN
  if (!Number.isInteger(seconds) || seconds < 1 || seconds > MAX_TTL_SECONDS) throw new PusherError.INVALID_TTL(field)
  return seconds
}
