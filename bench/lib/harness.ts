// What the benchmark runners share: pinned child processes, waiting for a port, the
// machine line, and regenerating one marked section of bench/RESULTS.md.
import { type ChildProcess, execSync, spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { connect } from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'

export const root = new URL('../..', import.meta.url).pathname

export const sh = (command: string): string => execSync(command, { cwd: root, encoding: 'utf8', shell: '/bin/bash' }).trim()

export const log = (message: string): void => {
  process.stderr.write(`[bench] ${message}\n`)
}

/** `command` pinned to `core`, with the soft file limit raised to the hard one. */
export function pinned(core: number, command: string[], env: Record<string, string>, stdout: 'pipe' | 'inherit'): ChildProcess {
  const quoted = command.map((part) => `'${part}'`).join(' ')
  return spawn('bash', ['-c', `ulimit -n $(ulimit -Hn) && exec taskset -c ${core} ${quoted}`], {
    cwd: root,
    env: { ...process.env, ...env },
    stdio: ['ignore', stdout, 'inherit'],
  })
}

export async function waitForPort(port: number, child: ChildProcess): Promise<void> {
  for (let attempt = 0; attempt < 200; attempt++) {
    if (child.exitCode !== null) throw new Error(`server exited with ${child.exitCode}`)
    const ok = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => { socket.destroy(); resolve(true) })
      socket.once('error', () => resolve(false))
    })
    if (ok) return
    await sleep(100)
  }
  throw new Error(`nothing listens on ${port}`)
}

/** `items` starting at index `by` (modulo their number): each round of a side-by-side measurement starts with another server, so that none is always measured first. */
export function rotated<T>(items: readonly T[], by: number): T[] {
  return items.map((_, i) => items[(by + i) % items.length]!)
}

export function machine(): string {
  return `${sh("lscpu | sed -n 's/^Model name: *//p'")}, ${sh('nproc')} cores, ${sh('uname -r')}, Node ${process.version}`
}

/** Replaces what stands between `<!-- <name>:start -->` and `<!-- <name>:end -->` in bench/RESULTS.md. */
export function writeSection(name: string, content: string): void {
  const file = `${root}bench/RESULTS.md`
  const start = `<!-- ${name}:start -->`
  const end = `<!-- ${name}:end -->`
  let current = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmark results\n'
  if (!current.includes(start)) current = `${current.trimEnd()}\n\n${start}\n${end}\n`
  const before = current.slice(0, current.indexOf(start) + start.length)
  const after = current.slice(current.indexOf(end))
  writeFileSync(file, `${before}\n${content}\n${after}`)
  log(`updated the ${name} section of bench/RESULTS.md`)
}

/** Runs the load generator pinned to core 1 with `args`; resolves with the figures it printed. */
export function runLoadgen<T>(args: string[]): Promise<T> {
  return runGenerator<T>('bench/loadgen.ts', args)
}

/** Runs a generator `script` pinned to core 1 with `args`; resolves with the JSON it printed. */
export async function runGenerator<T>(script: string, args: string[]): Promise<T> {
  const loadgen = pinned(1, [process.execPath, '--expose-gc', '--import', 'tsx', script, ...args], {}, 'pipe')
  let output = ''
  loadgen.stdout!.on('data', (chunk: Buffer) => { output += chunk })
  const [code] = await once(loadgen, 'exit')
  if (code !== 0) throw new Error(`load generator exited with ${code}`)
  return JSON.parse(output) as T
}

/** What a runner writes into its section: when, where, how, the table, and every run's figures. */
export function resultsBlock(header: string[], table: string, runs: unknown): string {
  return [...header, '', table, '', '<details><summary>Every run</summary>', '', '```json', JSON.stringify(runs), '```', '</details>'].join('\n')
}
