// `npm run bench:connect-close`: what a connect-and-close flood makes the hub hold. Loops
// from 127.0.0.2 open a TCP connection to the standalone hub and close it as soon as it
// is up, for --seconds; each second prints the hub's resident size and how long a
// GET /metrics from 127.0.0.1 took meanwhile. The connection guard keeps the sockets
// that made no request in a list it prunes once a second: this shows what that holds.
// (Past about 28,000 connections the load's side of this machine runs out of loopback
// ports in TIME_WAIT and every connection, /metrics's too, is refused: keep runs short.)
//
//   npm run bench:connect-close -- [--seconds 10] [--loops 200] [--base <git revision>]
//
// With --base, the hub built from that revision instead of the working tree.
import { readFileSync } from 'node:fs'
import { connect } from 'node:net'
import { parseArgs } from 'node:util'
import { log } from './lib/harness.js'
import { buildBase, prepare, servers, startServer, stopServer } from './lib/servers.js'

const { values: args } = parseArgs({ options: { seconds: { type: 'string', default: '10' }, loops: { type: 'string', default: '200' }, base: { type: 'string' } } })
const port = 9500
const residentMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024

prepare()
const base = args.base === undefined ? undefined : buildBase(args.base)
const spec = base?.spec ?? servers.pusher!
log(`flooding ${spec.name}`)
const server = await startServer(spec, port)
let connections = 0
let stopping = false
const loop = (): void => {
  if (stopping) return
  const socket = connect({ port, host: '127.0.0.1', localAddress: '127.0.0.2' })
  socket.on('connect', () => {
    connections++
    socket.destroy()
    loop()
  })
  socket.on('error', () => setTimeout(loop, 10))
}
try {
  log(`hub resident at start: ${residentMb(server.pid!).toFixed(0)} MB`)
  for (let i = 0; i < Number(args.loops); i++) loop()
  for (let second = 1; second <= Number(args.seconds); second++) {
    await new Promise((resolve) => setTimeout(resolve, 1000))
    const started = performance.now()
    const status = await fetch(`http://127.0.0.1:${port}/metrics`).then((response) => response.status, () => 'refused')
    process.stdout.write(`${second} s: ${connections} connections, hub resident ${residentMb(server.pid!).toFixed(0)} MB, GET /metrics ${status} in ${(performance.now() - started).toFixed(0)} ms\n`)
  }
} finally {
  stopping = true
  await stopServer(server)
  base?.remove()
}
