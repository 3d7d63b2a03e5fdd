// Running a server under `node --cpu-prof` through one phase of the load generator's
// load: what bench/profile.ts and bench/profile-ab.ts share.
import { once } from 'node:events'
import { mkdirSync, readdirSync, rmSync } from 'node:fs'
import { runLoadgen } from './harness.js'
import { type ServerSpec, startServer, stopServer } from './servers.js'

/** The phases bench/loadgen.ts can run alone ('handshakes': only the connections it opens first). */
export const PHASES = ['unicast', 'batch', 'fanout', 'handshakes'] as const
export type Phase = (typeof PHASES)[number]

// --cpu-prof writes the profile when the process exits normally; SIGINT makes it exit so.
// (Double quotes inside: pinned() single-quotes every argument for bash.)
const exitOnInterrupt = 'data:text/javascript,process.once("SIGINT",()=>process.exit(0))'

/**
 * Profiles `spec` (pinned to core 0, the load on core 1) through `phase` into `dir`, which
 * is emptied first; `intervalUs` is V8's sampling interval. Returns the main thread's profile.
 */
export async function profileServer(spec: ServerSpec, phase: Phase, dir: string, port: number, intervalUs = 1000): Promise<string> {
  rmSync(dir, { recursive: true, force: true })
  mkdirSync(dir, { recursive: true })
  const flags = ['--import', exitOnInterrupt, '--cpu-prof', `--cpu-prof-interval=${intervalUs}`, `--cpu-prof-dir=${dir}`]
  const server = await startServer(spec, port, flags)
  try {
    // Twice the usual load (five times the handshakes), so that the phase outweighs the
    // server's startup in the profile.
    const load = ['--unicast', '40000', '--batch-calls', '400', '--broadcasts', '100', ...(phase === 'handshakes' ? ['--connections', '10000'] : [])]
    await runLoadgen(['--url', `http://127.0.0.1:${port}`, '--pid', String(server.pid), '--phases', phase === 'handshakes' ? '' : phase,
      ...load, ...spec.load])
  } catch (error) {
    await stopServer(server)
    throw error
  }
  server.kill('SIGINT')
  await once(server, 'exit')
  // One profile per thread that ran JavaScript; the main thread's (thread 0) sorts first.
  const file = readdirSync(dir).filter((name) => name.endsWith('.cpuprofile')).sort()[0]
  if (file === undefined) throw new Error(`no profile in ${dir}`)
  return `${dir}/${file}`
}
