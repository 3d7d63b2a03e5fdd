// The at-scale part of `npm run bench:topics -- --scale`: 5 hub processes joined by one
// Redis and 5 load processes, each load process holding its share of the connections to
// one hub (every process under this machine's 20,000-descriptor limit). One publish to a
// topic all of them watch; then the same connections spread over 1,000 topics, one
// publish to each (one /publish/batch). Reports the time from the publish to the last
// delivery, and each node's CPU per delivery.
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createInterface } from 'node:readline'
import { setTimeout as sleep } from 'node:timers/promises'
import { log, machine, root, sh, waitForPort } from './lib/harness.js'
import { cpuMicros } from './lib/proc.js'

const REDIS_URL = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379'
const API_KEY = 'bench-api-key-0123456789'
const SECRET = 'a-bench-secret-that-is-long-enough-for-hs256'
const NODES = 5

export interface ScaleResult {
  mode: 'one' | 'spread'
  connections: number
  publishMs: number
  lastDeliveryMs: number
  delivered: number
  cpuNsPerDelivery: number[]
}

/** A child with the soft file limit raised to the hard one (both cores, unpinned). */
function spawnRaised(command: string[], env: Record<string, string>): ChildProcess {
  const quoted = command.map((part) => `'${part}'`).join(' ')
  return spawn('bash', ['-c', `ulimit -n $(ulimit -Hn) && exec ${quoted}`], { cwd: root, env: { ...process.env, ...env }, stdio: ['pipe', 'pipe', 'inherit'] })
}

/** The next JSON line a child prints that has `key`. */
function nextLine(child: ChildProcess, key: string): Promise<Record<string, number>> {
  return new Promise((resolve, reject) => {
    const lines = createInterface({ input: child.stdout! })
    lines.on('line', (line) => {
      try {
        const parsed = JSON.parse(line) as Record<string, number>
        if (key in parsed) {
          lines.close()
          resolve(parsed)
        }
      } catch {}
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before printing ${key}`)))
  })
}

export async function runScale(mode: 'one' | 'spread', perNode: number): Promise<ScaleResult> {
  const prefix = `pusher-bench-scale-${process.pid}-${mode}:`
  const hubs: ChildProcess[] = []
  const loaders: ChildProcess[] = []
  const ports = Array.from({ length: NODES }, (_, i) => 9700 + i)
  try {
    for (const [i, port] of ports.entries()) {
      const hub = spawnRaised([process.execPath, 'node_modules/fastify-cli/cli.js', 'start', '--options', '-l', 'warn', 'dist/app.js'], {
        JWT_SECRET: SECRET, PUSHER_API_KEY: API_KEY, PORT: String(port), REDIS_URL, PUSHER_REDIS_PREFIX: prefix, PUSHER_NODE_ID: `scale-${i}`,
        PUSHER_MAX_CONNECTIONS: String(perNode + 50),
      })
      hub.stdout!.resume()
      hubs.push(hub)
      await waitForPort(port, hub)
    }
    log(`${NODES} hubs up; opening ${NODES} x ${perNode} connections (${mode})`)
    for (const [i, port] of ports.entries()) {
      loaders.push(spawnRaised([process.execPath, '--import', 'tsx', 'bench/lib/topics-scale-load.ts', '--url', `http://127.0.0.1:${port}`,
        '--from', String(i * perNode), '--count', String(perNode), '--mode', mode, '--secret', SECRET], {}))
    }
    await Promise.all(loaders.map((loader) => nextLine(loader, 'ready')))
    // Presence, topic counts and the topic channels' subscriptions settle within a lease.
    await sleep(3000)
    const total = NODES * perNode
    const done = loaders.map((loader) => nextLine(loader, 'done'))
    for (const loader of loaders) loader.stdin!.write(`expect ${perNode}\n`)
    const cpuBefore = hubs.map((hub) => cpuMicros(hub.pid!))
    const started = Date.now()
    const body = mode === 'one'
      ? JSON.stringify({ topic: 'all', message: 'to everyone watching' })
      : JSON.stringify({ messages: Array.from({ length: 1000 }, (_, t) => ({ topic: `t${t}`, message: `to t${t}` })) })
    const response = await fetch(`http://127.0.0.1:${ports[0]}${mode === 'one' ? '/publish' : '/publish/batch'}`, {
      method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${API_KEY}` }, body,
    })
    const answered = Date.now()
    const answer = await response.json() as { delivered: number }
    if (response.status !== 200) throw new Error(`publish answered ${response.status}: ${JSON.stringify(answer)}`)
    const lasts = await Promise.all(done)
    await sleep(500)
    const cpuAfter = hubs.map((hub) => cpuMicros(hub.pid!))
    return {
      mode,
      connections: total,
      publishMs: answered - started,
      lastDeliveryMs: Math.max(...lasts.map((line) => line.last!)) - started,
      delivered: answer.delivered,
      cpuNsPerDelivery: cpuAfter.map((after, i) => ((after - cpuBefore[i]!) * 1000) / perNode),
    }
  } finally {
    for (const loader of loaders) loader.kill('SIGKILL')
    for (const hub of hubs) hub.kill('SIGKILL')
    await Promise.all([...loaders, ...hubs].map((child) => (child.exitCode === null ? once(child, 'exit') : undefined)))
    sh(`redis-cli -u ${REDIS_URL} --scan --pattern '${prefix}*' | xargs -r redis-cli -u ${REDIS_URL} del > /dev/null`)
  }
}

export function formatScale(results: ScaleResult[]): string {
  const line = (cells: string[]) => `| ${cells.join(' | ')} |`
  const head = ['connections', 'topics', 'publish answered, ms', 'last delivery, ms after the publish', 'delivered (the answer)', 'CPU ns / delivery, node 1 (took the publish) … node 5']
  return [
    `Measured ${new Date().toISOString().slice(0, 10)} on ${machine()}, Redis at ${REDIS_URL}; 5 hubs and 5 load processes, unpinned.`,
    '',
    line(head), line(head.map(() => '---')),
    ...results.map((r) => line([String(r.connections), r.mode === 'one' ? '1 (all watch it): one publish' : '1,000: one publish to each, in one /publish/batch',
      String(r.publishMs), String(r.lastDeliveryMs), String(r.delivered), r.cpuNsPerDelivery.map((ns) => ns.toFixed(0)).join(' · ')])),
  ].join('\n')
}
