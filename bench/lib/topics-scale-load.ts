// One load process of `npm run bench:topics -- --scale` (bench/topics-scale.ts): holds
// `count` connections to one hub, each watching one topic, and reports when the
// messages it was told to expect have all arrived. Commands come on stdin, one a line:
//   expect <n>   count arrivals from now; print {"done":n,"last":<ms since the epoch>} once n arrived
//   exit         close every connection and exit
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { createSigner } from 'fast-jwt'
import { openClients } from './clients.js'

const { values: args } = parseArgs({
  options: {
    url: { type: 'string' },
    from: { type: 'string', default: '0' },
    count: { type: 'string', default: '1000' },
    // one: every connection watches "all"; spread: connection i watches t<i mod 1000>.
    mode: { type: 'string', default: 'one' },
    secret: { type: 'string', default: 'secret' },
  },
})
const from = Number(args.from)
const count = Number(args.count)
const sign = createSigner({ key: args.secret!, algorithm: 'HS256' })
const topicOf = (i: number) => (args.mode === 'one' ? 'all' : `t${i % 1000}`)
const tokens = Array.from({ length: count }, (_, k) => sign({ uid: `s${from + k}`, topics: [topicOf(from + k)] }))

let expected = 0
let arrived = 0
let last = 0
const clients = await openClients(args.url!, 'ws', tokens, () => {
  last = Date.now()
  if (++arrived === expected) process.stdout.write(`${JSON.stringify({ done: arrived, last })}\n`)
}, 32)
process.stdout.write(`${JSON.stringify({ ready: clients.length })}\n`)

for await (const line of createInterface({ input: process.stdin })) {
  const [command, n] = line.trim().split(' ')
  if (command === 'expect') {
    arrived = 0
    expected = Number(n)
  } else if (command === 'exit') {
    for (const client of clients) client.close()
    process.exit(0)
  }
}
