// `npm run bench:jwt`: what fast-jwt's cache of verified tokens costs and saves, per
// algorithm. lib/config/jwt.ts (cacheVerified) keeps the cache for public keys only;
// this is the measurement behind that. Runs in one process, pinned to one core; prints,
// per algorithm, the CPU of one verification with and without the cache, for a token
// never seen before and for one verified moments ago.
//
//   npm run bench:jwt [-- --rounds 5]
import { execFileSync } from 'node:child_process'
import { generateKeyPairSync } from 'node:crypto'
import { parseArgs } from 'node:util'
import { createSigner, createVerifier } from 'fast-jwt'
import { median } from './lib/stats.js'

const { values: args } = parseArgs({ options: { rounds: { type: 'string', default: '5' }, pinned: { type: 'boolean', default: false } } })
if (!args.pinned) {
  // Re-run pinned to core 1 (the load generator's core of the other benchmarks).
  execFileSync('taskset', ['-c', '1', process.execPath, ...process.execArgv, process.argv[1]!, '--pinned', '--rounds', args.rounds!], { stdio: 'inherit' })
  process.exit(0)
}

const keys = {
  HS256: () => ({ sign: 'a-shared-secret-of-at-least-32-characters', verify: 'a-shared-secret-of-at-least-32-characters' }),
  RS256: () => pair(generateKeyPairSync('rsa', { modulusLength: 2048 })),
  ES256: () => pair(generateKeyPairSync('ec', { namedCurve: 'P-256' })),
} as const
function pair({ publicKey, privateKey }: ReturnType<typeof generateKeyPairSync>) {
  return { sign: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), verify: publicKey.export({ type: 'spki', format: 'pem' }).toString() }
}

/** µs per call of `verify` over `tokens`, `times` times over. */
function timed(verify: (token: string) => unknown, tokens: string[], times = 1): number {
  const started = process.cpuUsage()
  for (let i = 0; i < times; i++) for (const token of tokens) verify(token)
  const { user, system } = process.cpuUsage(started)
  return (user + system) / (tokens.length * times)
}

const rows = ['| algorithm | cache | never-seen token, µs | token seen moments ago, µs |', '| --- | --- | --- | --- |']
let serial = 0
for (const [algorithm, makeKeys] of Object.entries(keys)) {
  const { sign: signingKey, verify: verifyingKey } = makeKeys()
  const sign = createSigner({ key: signingKey, algorithm: algorithm as 'HS256' })
  // Fewer tokens for the slow algorithms; enough for tenths of a second each.
  const count = algorithm === 'HS256' ? 20_000 : 2_000
  for (const cache of [true, false]) {
    const fresh: number[] = []
    const seen: number[] = []
    for (let round = 0; round < Number(args.rounds); round++) {
      const verify = createVerifier({ key: verifyingKey, algorithms: [algorithm as 'HS256'], cache })
      // 500 tokens: well within fast-jwt's default cache of 1000 entries.
      const recent = Array.from({ length: 500 }, () => sign({ uid: `u${serial++}` }))
      const never = Array.from({ length: count }, () => sign({ uid: `u${serial++}` }))
      timed(verify, recent)
      fresh.push(timed(verify, never))
      seen.push(timed(verify, recent, count / 500))
    }
    rows.push(`| ${algorithm} | ${cache ? 'on' : 'off'} | ${median(fresh).toFixed(1)} | ${median(seen).toFixed(1)} |`)
  }
}
process.stdout.write(`fast-jwt verify, median of ${args.rounds} rounds, one core:\n\n${rows.join('\n')}\n`)
