#!/usr/bin/env node
// Mints a client token: `JWT_SECRET=... pusher-token <uid> [--ttl seconds]`.
import { parseArgs } from 'node:util'
import { mintToken } from '../lib/mint-token.js'

const usage = 'usage: JWT_SECRET=<secret> pusher-token <uid> [--ttl <seconds>, default 3600, 0 for no expiry]'
const { values, positionals } = parseArgs({ options: { ttl: { type: 'string', default: '3600' } }, allowPositionals: true })
const uid = positionals[0]
const secret = process.env.JWT_SECRET
const ttlSeconds = Number(values.ttl)
if (uid === undefined || uid === '' || !secret || !Number.isInteger(ttlSeconds) || ttlSeconds < 0) {
  console.error(usage)
  process.exit(2)
}
console.log(mintToken({ secret, uid, ttlSeconds }))
