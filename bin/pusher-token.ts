#!/usr/bin/env node
// Mints a client token: `JWT_SECRET=... pusher-token <uid> [--ttl seconds] [--topics a,b | --topic t]`.
import { parseArgs } from 'node:util'
import { mintToken } from '../lib/auth/mint-token.js'
import { DEFAULT_MAX_TOPIC_LENGTH, topicProblem } from '../lib/topics/name.js'

const usage = `usage: JWT_SECRET=<secret> pusher-token <uid> [--ttl <seconds>] [--topics <a,b,...> | --topic <name>]

Prints an HS256 token for user <uid>, signed with JWT_SECRET, for GET /ws?token=.
  --ttl <seconds>    time to live: default 3600, 0 for a token that never expires
  --topics <a,b>     topics the connection watches from the start (the "topics" claim)
  --topic <name>     a topic token instead: a framed client of <uid> subscribes to <name>
                     with it ({"type":"subscribe","topic":...,"token":...}); it cannot connect
  -h, --help         this text
`

let parsed
try {
  parsed = parseArgs({
    options: { ttl: { type: 'string', default: '3600' }, topics: { type: 'string' }, topic: { type: 'string' }, help: { type: 'boolean', short: 'h' } },
    allowPositionals: true,
  })
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
const topics = values.topics?.split(',').map((name) => name.trim()).filter((name) => name !== '')
const badTopic = [...(topics ?? []), ...(values.topic === undefined ? [] : [values.topic])]
  .map((name) => topicProblem(name, DEFAULT_MAX_TOPIC_LENGTH)).find((found) => found !== undefined)
const problem = uid === undefined || uid === '' ? 'no uid given'
  : !secret ? 'JWT_SECRET is not set'
    : !Number.isInteger(ttlSeconds) || ttlSeconds < 0 ? `--ttl must be a whole number of seconds, not "${values.ttl}"`
      : topics !== undefined && values.topic !== undefined ? '--topics (a connect token) and --topic (a topic token) do not go together'
        : badTopic
if (problem !== undefined) {
  process.stderr.write(`pusher-token: ${problem}\n\n${usage}`)
  process.exit(2)
}
process.stdout.write(`${mintToken({ secret: secret!, uid: uid!, ttlSeconds, ...(topics !== undefined && { topics }), ...(values.topic !== undefined && { topic: values.topic }) })}\n`)
