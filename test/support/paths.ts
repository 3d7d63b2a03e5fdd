// Where things are, whether a test runs as TypeScript through tsx (`node --import tsx
// --test test/…`) or as the JavaScript that `npm test` transpiles into .test-build/, a
// mirror of the repository's tree (scripts/test.mjs says why).
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** Where the modules this process runs live: the repository, or .test-build/ in it. */
const moduleRoot = fileURLToPath(new URL('../..', import.meta.url))

/** True when running the transpiled JavaScript. */
const compiled = import.meta.url.endsWith('.js')

/** The repository's root: package.json, deploy/, dist/, the TypeScript sources. */
export const root = compiled ? join(moduleRoot, '..') : moduleRoot

/** The arguments a child `node` needs before a module of the project: the TypeScript loader, or none. */
export const loaderArgs: readonly string[] = compiled ? [] : ['--import', 'tsx']

/** The runnable form of one of the project's modules, given as its source path (`lib/x.ts`). */
export const modulePath = (source: string): string => join(moduleRoot, compiled ? source.replace(/\.ts$/, '.js') : source)
