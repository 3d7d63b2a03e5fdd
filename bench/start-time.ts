// `npm run bench:start`: how long `npm start` takes, on a current dist/, to listen: the
// time from spawning `npm start` to its "Server listening" line, five times.
import { spawn } from 'node:child_process'
import { setTimeout as sleep } from 'node:timers/promises'
import { log, root, sh } from './lib/harness.js'

log('building dist/ if a source changed (what the first npm start does)')
sh('node scripts/build-if-stale.mjs')
const seconds: number[] = []
for (let run = 0; run < 5; run++) {
  const started = performance.now()
  const child = spawn('npm', ['start', '--silent'], { cwd: root, env: { ...process.env, PUSHER_DEV: 'true', PORT: '0' }, stdio: ['ignore', 'pipe', 'ignore'], detached: true })
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (chunk: Buffer) => { if (/Server listening/.test(chunk.toString())) resolve() })
    child.once('exit', (code) => reject(new Error(`npm start exited with ${code}`)))
  })
  seconds.push((performance.now() - started) / 1000)
  // npm and the hub under it, as a group.
  process.kill(-child.pid!, 'SIGKILL')
  await sleep(300)
}
process.stdout.write(`npm start on a current dist/, seconds to listening: ${seconds.map((s) => s.toFixed(2)).join(', ')}\n`)
