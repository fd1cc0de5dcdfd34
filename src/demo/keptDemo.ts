import {existsSync, readdirSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {join, resolve} from 'node:path'
import {z} from 'zod'
import {UserError} from '../errors/errors.js'

/** KEPT_FILE is the file in a kept demo's data dir that says what runs there and how to reach it. */
export const KEPT_FILE = 'kept.json'

/** KeptDemoSchema: what `demo --keep` leaves behind for `demo stop` and for the operator. */
export const KeptDemoSchema = z.object({
  version: z.literal(1),
  /** dir is the demo's data dir (absolute): etcd, nodes, logs, certificates. Removed by `demo stop`. */
  dir: z.string(),
  cluster: z.string(),
  endpoint: z.string(),
  router: z.string(),
  nodes: z.array(z.object({id: z.string(), address: z.string()})),
  /** processes are every process the demo left running, by name. */
  processes: z.array(z.object({name: z.string(), pid: z.number().int().positive()})),
  /** secure: the TLS CA and the demo user's token file, when the demo ran with --secure. */
  secure: z.object({ca: z.string(), tokenFile: z.string()}).nullable(),
  keptAt: z.string(),
})

/** KeptDemo is a validated kept.json. */
export type KeptDemo = z.infer<typeof KeptDemoSchema>

/** writeKeptDemo writes `<kept.dir>/kept.json`. */
export function writeKeptDemo(kept: KeptDemo): string {
  const file = join(kept.dir, KEPT_FILE)
  writeFileSync(file, `${JSON.stringify(kept, null, 2)}\n`)
  return file
}

/** ProcessProbe says whether `pid` runs and belongs to the demo in `dir` (a recycled pid must never be killed). Injected for tests. */
export type ProcessProbe = (pid: number, dir: string) => 'ours' | 'gone' | 'other'

/**
 * probeProcess reads /proc: a process is the demo's when its command line names `dir`
 * (etcd's --data-dir, a node's) or its environment carries SHARDCTL_DEMO=`dir` (every
 * node and router the demo starts).
 */
export const probeProcess: ProcessProbe = (pid, dir) => {
  try {
    const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8')
    if (cmdline.split('\0').some((a) => a.includes(dir))) return 'ours'
    const environ = readFileSync(`/proc/${pid}/environ`, 'utf8')
    return environ.split('\0').includes(`SHARDCTL_DEMO=${dir}`) ? 'ours' : 'other'
  } catch (err) {
    // ENOENT: gone. EACCES: someone else's process, so not ours.
    return (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'gone' : 'other'
  }
}

/** KeptDirs finds kept demos: `dir` itself when given, else every `<cwd>/.shardctl/demo/<pid>/` holding a kept.json. */
export function findKeptDemos(cwd: string, localDir: string, dir?: string): string[] {
  if (dir !== undefined) return [resolve(cwd, dir)]
  const root = join(cwd, localDir, 'demo')
  if (!existsSync(root)) return []
  return readdirSync(root)
    .map((d) => join(root, d))
    .filter((d) => existsSync(join(d, KEPT_FILE)))
}

/**
 * readKeptDemo reads and validates `<dir>/kept.json`. Throws UserError: NOT_FOUND when
 * there is none (naming the dir and how to find kept demos), CORRUPT_VALUE when it is not
 * one shardctl wrote.
 */
export function readKeptDemo(dir: string): KeptDemo {
  const file = join(dir, KEPT_FILE)
  if (!existsSync(file)) throw new UserError('NOT_FOUND', `no kept demo in ${dir} (no ${KEPT_FILE})`, 'pass the directory `demo --keep` printed, or run `shardctl demo stop` in the directory the demo ran in')
  let parsed: unknown
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    parsed = undefined
  }
  const got = KeptDemoSchema.safeParse(parsed)
  if (!got.success) throw new UserError('CORRUPT_VALUE', `${file} is not a kept demo's record`, 'stop its processes by hand (see the *.log files beside it) and remove the directory')
  return got.data
}

/** StopKeptResult says what `demo stop` did to one kept demo. */
export interface StopKeptResult {
  dir: string
  /** stopped are the processes that were running and were stopped (SIGTERM, SIGKILL after the grace). */
  stopped: string[]
  /** alreadyGone are the processes that no longer ran (or whose pid now belongs to another process: left alone). */
  alreadyGone: string[]
  removed: boolean
}

/** StopEffects are the side effects of stopping, injected so the logic is tested without killing anything. */
export interface StopEffects {
  probe: ProcessProbe
  kill: (pid: number, signal: NodeJS.Signals) => void
  sleep: (ms: number) => Promise<void>
  now: () => number
  removeDir: (dir: string) => void
}

/** defaultStopEffects are the real ones. */
export const defaultStopEffects: StopEffects = {
  probe: probeProcess,
  kill: (pid, signal) => {
    try {
      process.kill(pid, signal)
    } catch {
      // exited in between
    }
  },
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  now: () => Date.now(),
  removeDir: (dir) => rmSync(dir, {recursive: true, force: true}),
}

/**
 * stopKeptDemo stops every process of a kept demo that still runs and is still the demo's
 * (routers and nodes first, etcd last, so they deregister cleanly): SIGTERM, then SIGKILL
 * after `graceMs`; then removes its data dir. A pid that now belongs to another process is
 * left alone. Idempotent: stopping a stopped demo only removes what is left. Throws the
 * errors of readKeptDemo.
 */
export async function stopKeptDemo(dir: string, effects: StopEffects = defaultStopEffects, graceMs = 5000): Promise<StopKeptResult> {
  const kept = readKeptDemo(dir)
  const isEtcd = (name: string) => name === 'etcd'
  const ordered = [...kept.processes.filter((p) => !isEtcd(p.name)), ...kept.processes.filter((p) => isEtcd(p.name))]
  const result: StopKeptResult = {dir, stopped: [], alreadyGone: [], removed: false}
  const waitGone = async (procs: {name: string; pid: number}[]) => {
    const deadline = effects.now() + graceMs
    let left = procs.filter((p) => effects.probe(p.pid, kept.dir) === 'ours')
    while (left.length > 0 && effects.now() < deadline) {
      await effects.sleep(100)
      left = left.filter((p) => effects.probe(p.pid, kept.dir) === 'ours')
    }
    for (const p of left) effects.kill(p.pid, 'SIGKILL')
    // SIGKILL is not refused; wait (bounded) until the kernel has reaped them.
    const hard = effects.now() + 5000
    while (left.some((p) => effects.probe(p.pid, kept.dir) === 'ours') && effects.now() < hard) await effects.sleep(100)
  }
  for (const group of [ordered.filter((p) => !isEtcd(p.name)), ordered.filter((p) => isEtcd(p.name))]) {
    const running = group.filter((p) => effects.probe(p.pid, kept.dir) === 'ours')
    for (const p of group) (running.includes(p) ? result.stopped : result.alreadyGone).push(p.name)
    for (const p of running) effects.kill(p.pid, 'SIGTERM')
    await waitGone(running)
  }
  effects.removeDir(kept.dir)
  result.removed = true
  return result
}
