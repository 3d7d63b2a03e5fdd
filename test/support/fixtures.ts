// Test fixtures that need no hub: the test secret and key, tokens, scratch directories.
// Kept apart from helpers.ts so that a unit test does not load the whole hub to get them.
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createSigner } from 'fast-jwt'

export const SECRET = 'a-test-secret-that-is-long-enough-for-hs256'
export const API_KEY = 'test-api-key-0123456789'

/** A JWT signed with the test secret; `noTimestamp` leaves out the `iat` claim the signer adds otherwise. */
export function token(claims: Record<string, unknown>, options: { key?: string; algorithm?: string; expiresIn?: number; notBefore?: number; noTimestamp?: boolean } = {}): string {
  const sign = createSigner({
    key: options.key ?? SECRET,
    noTimestamp: options.noTimestamp ?? false,
    algorithm: (options.algorithm ?? 'HS256') as 'HS256',
    ...(options.expiresIn !== undefined && { expiresIn: options.expiresIn }),
    ...(options.notBefore !== undefined && { notBefore: options.notBefore }),
  })
  return sign(claims)
}

/** A token for `uid` that expires `seconds` whole seconds from now (JWT exp has second resolution). */
export function expiringToken(uid: string, seconds: number): { token: string; exp: number } {
  const exp = Math.floor(Date.now() / 1000) + seconds
  return { token: token({ uid, exp }), exp }
}

/** Temporary directories made so far, removed together when the process exits. */
const tempDirs: string[] = []

/** A temporary directory for a test file's SQLite files, removed when the process exits. */
export function tempDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `pusher-${name}-`))
  // One exit listener for all of them: several test files may share a process (npm test).
  if (tempDirs.length === 0) process.on('exit', () => { for (const made of tempDirs) rmSync(made, { recursive: true, force: true }) })
  tempDirs.push(dir)
  return dir
}
