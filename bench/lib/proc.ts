// Reading another process's CPU time and memory from /proc, the way DESIGN.md §5
// measures: the server's own cost, whatever the load generator spends.
import { readdirSync, readFileSync } from 'node:fs'

// USER_HZ: the unit of utime/stime in /proc/<pid>/stat; 100 on every Linux we run on.
const TICKS_PER_SECOND = 100

/** The process's user + system CPU time, all threads, in microseconds. */
export function cpuMicros(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
  // Fields after "(comm)": state is field 3, utime field 14, stime field 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  const ticks = Number(fields[11]) + Number(fields[12])
  return (ticks * 1e6) / TICKS_PER_SECOND
}

/**
 * The process's CPU time, all threads, in microseconds at nanosecond resolution: the
 * sum of every thread's on-CPU time from /proc/<pid>/task/<tid>/schedstat. The same
 * quantity as cpuMicros(), for slices too short for its 10 ms ticks (bench/interleaved.ts).
 */
export function preciseCpuMicros(pid: number): number {
  let nanos = 0
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      nanos += Number(readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ', 1)[0])
    } catch {
      // The thread ended between the listing and the read.
    }
  }
  return nanos / 1000
}

/** Resident memory in kilobytes (VmRSS from /proc/<pid>/status). */
export function rssKb(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  const match = /^VmRSS:\s+(\d+) kB/m.exec(status)
  if (match === null) throw new Error(`no VmRSS for pid ${pid}`)
  return Number(match[1])
}

/** Resident memory in KB once it has stopped moving (within 0.2% over half a second), or after ten seconds. */
export async function settledRssKb(pid: number): Promise<number> {
  let previous = rssKb(pid)
  for (let i = 0; i < 20; i++) {
    await new Promise((resolve) => setTimeout(resolve, 500))
    const current = rssKb(pid)
    if (Math.abs(current - previous) < previous * 0.002) return current
    previous = current
  }
  return previous
}

/** CPU time the hypervisor gave to other guests, all cores, in ms (the `steal` column of /proc/stat). */
export function stolenMs(): number {
  const cpu = readFileSync('/proc/stat', 'utf8').split('\n', 1)[0]!.split(/\s+/)
  return (Number(cpu[8]) * 1000) / TICKS_PER_SECOND
}
