// `npm start`, `npm pack` and `npm test` build dist/ only when a source file is newer than
// the last build, so a
// second start takes a second instead of a full TypeScript compile.
import { execFileSync } from 'node:child_process'
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const stamp = join(root, 'dist', '.build-stamp')
const sources = ['app.ts', 'package.json', 'tsconfig.json', 'tsconfig.build.json', 'lib', 'plugins', 'routes', 'bin', 'client']

/** The newest modification time under `path`, in ms. */
function newest(path) {
  const stats = statSync(path)
  if (!stats.isDirectory()) return stats.mtimeMs
  return Math.max(0, ...readdirSync(path).map((name) => newest(join(path, name))))
}

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0
if (Math.max(...sources.map((source) => newest(join(root, source)))) > built) {
  process.stderr.write('building dist/ (npm run build)\n')
  execFileSync('npm', ['run', 'build', '--silent'], { cwd: root, stdio: 'inherit' })
  writeFileSync(stamp, `${new Date().toISOString()}\n`)
}
