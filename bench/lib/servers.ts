// The servers the benchmarks run, and getting them ready: the reference hubs of
// ../shared/bench installed, fastify-pusher and our own reference servers built.
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { log, pinned, root, runGenerator, sh, waitForPort } from './harness.js'
import type { Interleaved } from './report.js'

const peerSource = process.env.PEER_HUBS ?? `${root}../shared/bench`
const peerDir = '/tmp/peer-hubs'
export const API_KEY = 'bench-api-key-0123456789'

export interface ServerSpec {
  name: string
  /** Arguments to node. */
  command: string[]
  env: Record<string, string>
  /** Extra arguments for bench/loadgen.ts. */
  load: string[]
}

export const servers: Record<string, ServerSpec> = {
  floor: { name: 'floor (ws + node:http)', command: [`${peerDir}/floor-hub.mjs`], env: {}, load: [] },
  socketio: { name: 'socket.io', command: [`${peerDir}/socketio-hub.mjs`], env: {}, load: ['--protocol', 'socketio'] },
  pusher: {
    name: 'fastify-pusher',
    command: ['node_modules/fastify-cli/cli.js', 'start', '--options', '-l', 'warn', 'dist/app.js'],
    // Sender authentication, schema validation and metrics stay on, as in production.
    env: { JWT_SECRET: 'secret', PUSHER_API_KEY: API_KEY },
    load: ['--batch', '--api-key', API_KEY],
  },
  // Our reference servers (bench/reference/), for the interleaved part of npm run bench.
  fastify: {
    name: 'Fastify, bare (reference)',
    command: ['dist-bench/bench/reference/fastify-bare.js'],
    env: {},
    load: [],
  },
  noframework: {
    name: 'fastify-pusher\'s checks, no framework (reference)',
    command: ['dist-bench/bench/reference/no-framework.js'],
    env: { PUSHER_API_KEY: API_KEY },
    load: ['--api-key', API_KEY],
  },
}

/** Starts `spec` on core 0 listening on `port` (`nodeFlags` go to node first); resolves once it listens. */
export async function startServer(spec: ServerSpec, port: number, nodeFlags: string[] = []): Promise<ChildProcess> {
  const server = pinned(0, [process.execPath, ...nodeFlags, ...spec.command], { ...spec.env, PORT: String(port) }, 'inherit')
  try {
    await waitForPort(port, server)
  } catch (error) {
    await stopServer(server)
    throw error
  }
  return server
}

/** Kills a server outright and waits until it is gone. */
export async function stopServer(server: ChildProcess): Promise<void> {
  server.kill('SIGKILL')
  if (server.exitCode === null && server.signalCode === null) await once(server, 'exit').catch(() => {})
}

export function prepare(): void {
  if (!existsSync(`${peerDir}/node_modules`)) {
    log(`installing the reference hubs from ${peerSource} into ${peerDir}`)
    sh(`rm -rf ${peerDir} && cp -r ${peerSource} ${peerDir} && npm ci --prefix ${peerDir} --no-audit --no-fund`)
  }
  log('building fastify-pusher (npm run build) and the reference servers (tsconfig.bench.json)')
  sh('npm run build')
  // Compiled like the hub, not run through tsx, whose helpers would cost them CPU per request.
  sh('npx tsc -p tsconfig.bench.json')
}

/**
 * Starts every server of `specs` at once (pinned to core 0, ports from `basePort` on),
 * runs bench/interleaved.ts across them with `args`, and stops them all.
 */
export async function runSideBySide(specs: Record<string, ServerSpec>, basePort: number, args: string[]): Promise<Interleaved> {
  const started: Array<{ target: string; server: ChildProcess }> = []
  try {
    for (const [index, [key, spec]] of Object.entries(specs).entries()) {
      const port = basePort + index
      started.push({ target: `${key}=http://127.0.0.1:${port}`, server: await startServer(spec, port) })
    }
    return await runGenerator<Interleaved>('bench/interleaved.ts', [
      ...started.flatMap(({ target, server }) => ['--target', `${target}=${server.pid}`]),
      '--api-key', API_KEY, ...args,
    ])
  } finally {
    await Promise.all(started.map(({ server }) => stopServer(server)))
  }
}
