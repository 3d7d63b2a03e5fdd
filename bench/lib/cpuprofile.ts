// Reading a V8 .cpuprofile (node --cpu-prof) into what bench/profile.ts prints: where the
// busy time went, by function and by package, and collapsed stacks for a flame graph.
import { readFileSync } from 'node:fs'

interface ProfileNode {
  id: number
  callFrame: { functionName: string; url: string; lineNumber: number }
  children?: number[]
}

interface Profile {
  nodes: ProfileNode[]
  samples: number[]
  timeDeltas: number[]
}

export interface ProfileSummary {
  busyMs: number
  byFunction: Array<[name: string, ms: number]>
  byPackage: Array<[name: string, ms: number]>
  /** One line per stack, `root;...;leaf <µs>`: the input of flamegraph.pl and speedscope. */
  collapsed: string
}

const IDLE = new Set(['(idle)', '(root)'])

const functionName = ({ callFrame: { functionName, url, lineNumber } }: ProfileNode): string => {
  const file = url.replace(/^.*node_modules\//, '').split('/').slice(-2).join('/')
  return file === '' ? functionName || '(anonymous)' : `${functionName || '(anonymous)'} ${file}:${lineNumber + 1}`
}

/** The npm package a frame's code comes from; 'node' for Node's own, 'fastify-pusher' for ours. */
const packageOf = (url: string): string | undefined => {
  const dependency = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(url)
  if (dependency) return dependency[1]
  if (url.startsWith('node:')) return 'node'
  if (url !== '') return 'fastify-pusher'
  return undefined
}

/** Which samples count (those after the last one whose stack holds a function named `after`, or from the first that holds `from`), and to whom Node's own time goes. */
export interface ProfileWindow {
  after?: string
  from?: string
  /**
   * Count the time of Node's own code (node:net, streams, the http parser) for the package
   * that called into it, as native time is: then ws carries the upgrade's socket work.
   */
  nodeToCaller?: boolean
}

/**
 * Summarizes `path`, all of it or a window: `after: 'completeUpgrade'` leaves the startup
 * and the handshakes out of a unicast profile; `from: 'completeUpgrade'` leaves the
 * startup out of a handshakes profile.
 */
export function summarizeProfile(path: string, { after, from, nodeToCaller = false }: ProfileWindow = {}): ProfileSummary {
  const profile = JSON.parse(readFileSync(path, 'utf8')) as Profile
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]))
  const parent = new Map<number, number>()
  for (const node of profile.nodes) for (const child of node.children ?? []) parent.set(child, node.id)
  const stackOf = (id: number): ProfileNode[] => {
    const stack: ProfileNode[] = []
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) stack.push(nodes.get(at)!)
    return stack.reverse()
  }
  const holds = (id: number, name: string) => stackOf(id).some((node) => node.callFrame.functionName === name)

  let first = 0
  if (after !== undefined) {
    profile.samples.forEach((id, i) => {
      if (holds(id, after)) first = i + 1
    })
  } else if (from !== undefined) {
    first = Math.max(0, profile.samples.findIndex((id) => holds(id, from)))
  }
  // Time per sampled node; a sample's delta is the time since the one before it.
  const timeOf = new Map<number, number>()
  for (let i = first; i < profile.samples.length; i++) {
    const id = profile.samples[i]!
    timeOf.set(id, (timeOf.get(id) ?? 0) + (profile.timeDeltas[i] ?? 0))
  }

  let busy = 0
  const byFunction = new Map<string, number>()
  const byPackage = new Map<string, number>()
  const collapsed = new Map<string, number>()
  for (const [id, micros] of timeOf) {
    const stack = stackOf(id)
    const leaf = stack.at(-1)!
    if (IDLE.has(leaf.callFrame.functionName)) continue
    busy += micros
    const name = functionName(leaf)
    byFunction.set(name, (byFunction.get(name) ?? 0) + micros)
    // Native frames (a syscall, the GC) count for the nearest JavaScript frame's package.
    const packages = [...stack].reverse().map((node) => packageOf(node.callFrame.url))
    const owner = packages.find((found) => found !== undefined && !(nodeToCaller && found === 'node'))
    const pkg = owner ?? (packages.includes('node') ? 'node' : leaf.callFrame.functionName)
    byPackage.set(pkg, (byPackage.get(pkg) ?? 0) + micros)
    const line = stack.filter((node) => node.callFrame.functionName !== '(root)').map(functionName).join(';')
    collapsed.set(line, (collapsed.get(line) ?? 0) + micros)
  }
  const ranked = (map: Map<string, number>): Array<[string, number]> =>
    [...map].sort((a, b) => b[1] - a[1]).map(([name, micros]) => [name, micros / 1000])
  return {
    busyMs: busy / 1000,
    byFunction: ranked(byFunction),
    byPackage: ranked(byPackage),
    collapsed: [...collapsed].map(([line, micros]) => `${line} ${Math.round(micros)}`).join('\n'),
  }
}
