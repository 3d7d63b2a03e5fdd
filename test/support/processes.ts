// Child processes the tests start: a free port to give them, waiting for what they
// print, and the hub as `npm start` runs it (bin/pusher-hub, here through tsx).
import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:net'
import { API_KEY, SECRET, type TestHub } from './helpers.js'
import { loaderArgs, modulePath, root } from './paths.js'


export async function freePort(): Promise<number> {
  const server = createServer().listen(0, '127.0.0.1')
  await once(server, 'listening')
  const { port } = server.address() as { port: number }
  server.close()
  return port
}

/** Resolves with what `child` printed on `stream` once every pattern has appeared in it; rejects if it exits first. */
export function waitForOutput(child: ChildProcess, stream: 'stdout' | 'stderr', ...patterns: RegExp[]): Promise<string> {
  let output = ''
  return new Promise((resolve, reject) => {
    child[stream]!.on('data', (chunk: Buffer) => {
      output += chunk
      if (patterns.every((pattern) => pattern.test(output))) resolve(output)
    })
    child.once('exit', (code) => reject(new Error(`exited with ${code} before printing ${patterns.join(', ')}:\n${output}`)))
  })
}

/** A hub in its own process with the test secret and API key, once it listens (and prints `ready`). */
export function startHubProcess(env: Record<string, string>, ...ready: RegExp[]): Promise<{ child: ChildProcess; hub: TestHub }> {
  return startLimitedHubProcess({ env, ready })
}

/** startHubProcess, with the child's file-descriptor limit lowered to `nofile` (through `prlimit`) when given. */
export async function startLimitedHubProcess({ env, ready = [], nofile }: { env: Record<string, string>; ready?: RegExp[]; nofile?: number }): Promise<{ child: ChildProcess; hub: TestHub }> {
  const node = [process.execPath, ...loaderArgs, modulePath('bin/pusher-hub.ts')]
  const [command, ...args] = nofile === undefined ? node : ['prlimit', `--nofile=${nofile}`, '--', ...node]
  const child = spawn(command!, args, {
    cwd: root,
    // Port 0: the OS picks a free one, and the hub says which.
    env: { ...process.env, PORT: '0', FASTIFY_ADDRESS: '127.0.0.1', JWT_SECRET: SECRET, PUSHER_API_KEY: API_KEY, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  const output = await waitForOutput(child, 'stdout', /Server listening at http:\/\/127\.0\.0\.1:\d+/, ...ready)
  const port = Number(/Server listening at http:\/\/127\.0\.0\.1:(\d+)/.exec(output)![1])
  return { child, hub: { url: `http://127.0.0.1:${port}`, wsUrl: `ws://127.0.0.1:${port}` } as TestHub }
}
