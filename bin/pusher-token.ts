#!/usr/bin/env node
// Mints a client token: `JWT_SECRET=... pusher-token <uid> [--ttl seconds]`.
import { parseArgs } from 'node:util'
import { mintToken } from '../lib/auth/mint-token.js'

const usage = `usage: JWT_SECRET=<secret> pusher-token <uid> [--ttl <seconds>]

Prints an HS256 token for user <uid>, signed with JWT_SECRET, for GET /ws?token=.
  --ttl <seconds>  time to live: default 3600, 0 for a token that never expires
  -h, --help       this text
`

let parsed
try {
  parsed = parseArgs({ options: { ttl: { type: 'string', default: '3600' }, help: { type: 'boolean', short: 'h' } }, allowPositionals: true })
} catch (error) {
  process.stderr.write(`${(error as Error).message}\n\n${usage}`)
  process.exit(2)
}
const { values, positionals } = parsed
if (values.help === true) {
  process.stdout.write(usage)
  process.exit(0)
}
const uid = positionals[0]
const secret = process.env.JWT_SECRET
const ttlSeconds = Number(values.ttl)
const problem = uid === undefined || uid === '' ? 'no uid given'
  : !secret ? 'JWT_SECRET is not set'
    : !Number.isInteger(ttlSeconds) || ttlSeconds < 0 ? `--ttl must be a whole number of seconds, not "${values.ttl}"`
      : undefined
if (problem !== undefined) {
  process.stderr.write(`pusher-token: ${problem}\n\n${usage}`)
  process.exit(2)
}
process.stdout.write(`${mintToken({ secret: secret!, uid: uid!, ttlSeconds })}\n`)
