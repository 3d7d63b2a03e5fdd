// The one rule for a uid, wherever one enters: a token's claim (plugins/auth.ts), every
// send (the bus's send and sendBatch, lib/bus/base.ts, which the sender API calls), and
// the stores' append, for embedders calling app.store directly.
//
// A uid is a non-empty string of at most maxLength UTF-16 code units (String#length,
// what JavaScript counts) that is well-formed Unicode. Well-formed matters because
// Redis and the relay between nodes carry a uid as UTF-8, which has no encoding for a
// lone surrogate: "v\ud800" is written as the bytes of "v\ufffd", and its messages
// (live or stored) would reach that other user. SQLite keeps the surrogate's raw bytes
// but reads them back as "v\ufffd\ufffd\ufffd": the stored uid is not the one sent.
//
// The in-process bus keeps uids as exact Map keys, so there a lone surrogate could not
// reach another user; it refuses one all the same, so that code written against one
// node behaves the same once the hub is a cluster. The contract of
// Bus.send/sendBatch and MessageStore.append: an invalid uid throws
// PusherError.INVALID_UID, and nothing is sent or stored.

import { PusherError } from '../errors.js'

declare global {
  interface String {
    /** ES2024 (Node 20): false if the string holds a lone surrogate. Declared here until tsconfig's lib has it. */
    isWellFormed(): boolean
  }
}

/**
 * The longest uid the bus and the stores accept: the highest maxUidLength the
 * configuration allows (lib/config.ts). They do not see the configuration; the routes
 * and the token check apply the configured maxUidLength, which is at most this. In
 * UTF-8 it is at most 12,288 bytes, well inside the relay's 16-bit length field.
 */
export const MAX_UID_LENGTH = 4096

/**
 * Undefined for a valid uid; otherwise one sentence saying what is wrong. Every sentence
 * begins with "uid", so a caller may put the field's path in front ("messages[3].uid ...").
 * Allocates nothing for a valid uid.
 */
export function uidProblem(uid: unknown, maxLength: number): string | undefined {
  if (typeof uid !== 'string') return 'uid must be a string'
  if (uid.length === 0) return 'uid must not be empty'
  if (uid.length > maxLength) return `uid must be at most ${maxLength} characters (UTF-16 code units), not ${uid.length}`
  if (!uid.isWellFormed()) return 'uid must be well-formed Unicode (it holds a lone surrogate)'
  return undefined
}

/** Throws PusherError.INVALID_UID (400) unless `uid` is valid. */
export function assertUid(uid: unknown, maxLength = MAX_UID_LENGTH): void {
  const problem = uidProblem(uid, maxLength)
  if (problem !== undefined) throw new PusherError.INVALID_UID(problem)
}

/**
 * Throws PusherError.INVALID_UID (400), naming the item ("messages[3].uid ...", or
 * "uids[3]: uid ..." for a list of uids), unless every uid is valid: a list is refused
 * whole, before any of it is used.
 */
export function assertUids(items: ReadonlyArray<{ uid: unknown } | string>, maxLength = MAX_UID_LENGTH, list = 'messages'): void {
  for (let i = 0; i < items.length; i++) {
    const item = items[i]!
    const problem = uidProblem(typeof item === 'string' ? item : item.uid, maxLength)
    if (problem !== undefined) throw new PusherError.INVALID_UID(typeof item === 'string' ? `${list}[${i}]: ${problem}` : `${list}[${i}].${problem}`)
  }
}
