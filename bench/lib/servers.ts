// The servers the benchmarks run, and getting them ready: fastify-pusher and the
// reference servers of bench/reference/ (the floor, socket.io, and two of our own) built.
import type { ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, symlinkSync } from 'node:fs'
import { log, pinned, root, runGenerator, sh, waitForPort } from './harness.js'
import type { Interleaved } from './report.js'

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
  // Plain JavaScript, run as they are: no build step, and nothing of ours in the way.
  floor: { name: 'floor (ws + node:http)', command: ['bench/reference/floor-hub.mjs'], env: {}, load: [] },
  socketio: { name: 'socket.io', command: ['bench/reference/socketio-hub.mjs'], env: {}, load: ['--protocol', 'socketio'] },
  pusher: {
    name: 'fastify-pusher',
    command: ['node_modules/fastify-cli/cli.js', 'start', '--options', '-l', 'warn', 'dist/app.js'],
    // Sender authentication, schema validation and metrics stay on, as in production.
    // The connection cap is lifted to near the descriptor limit: the scale phase holds as
    // many connections as the process may (its default leaves a tenth for senders and
    // Redis); it still leaves the 32 descriptors below the guard's spare that the hub
    // warns about at start when a cap takes them.
    env: { JWT_SECRET: 'secret', PUSHER_API_KEY: API_KEY, PUSHER_MAX_CONNECTIONS: '19850' },
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
  log('building fastify-pusher (npm run build) and the reference servers (tsconfig.bench.json)')
  sh('npm run build')
  // Compiled like the hub, not run through tsx, whose helpers would cost them CPU per request.
  sh('npx tsc -p tsconfig.bench.json')
}

/** A revision of fastify-pusher, built in a git worktree, to measure the working tree against. */
export interface BaseBuild {
  /** The short commit id. */
  revision: string
  /** fastify-pusher's server spec, run from the worktree. */
  spec: ServerSpec
  /** Removes the worktree. */
  remove(): void
}

/** Checks `rev` out in a worktree under /tmp (with this checkout's node_modules) and builds it. */
export function buildBase(rev: string): BaseBuild {
  const dir = '/tmp/fastify-pusher-ab-base'
  const revision = sh(`git rev-parse --short ${rev}`)
  log(`building the base, ${rev} (${revision}), in ${dir}`)
  sh(`git worktree remove --force ${dir} 2>/dev/null; rm -rf ${dir}; git worktree prune; git worktree add --detach ${dir} ${revision}`)
  if (!existsSync(`${dir}/node_modules`)) symlinkSync(`${root}node_modules`, `${dir}/node_modules`)
  sh(`cd ${dir} && npx tsc -p tsconfig.build.json`)
  const pusher = servers.pusher!
  return {
    revision,
    spec: { ...pusher, name: `fastify-pusher at ${revision}`, command: [`${dir}/node_modules/fastify-cli/cli.js`, 'start', '--options', '-l', 'warn', `${dir}/dist/app.js`] },
    remove: () => sh(`git worktree remove --force ${dir}`),
  }
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
