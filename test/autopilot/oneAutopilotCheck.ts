import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach} from 'vitest'
import {type AutopilotEvent, runAutopilot} from '../../src/autopilot/autopilotLoop.js'
import {type ServiceContext} from '../../src/cluster/serviceContext.js'
import {DEFAULT_EXECUTOR_OPTIONS} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition} from '../../src/executor/moveStore.js'

/** ONE_CHECK_INTERVAL_MS is the autopilot interval of {@link runOneAutopilotCheck}: its first wait of this long ends the run. */
export const ONE_CHECK_INTERVAL_MS = 60_000

/**
 * runOneAutopilotCheck runs the real runAutopilot on `ctx` for one check, with fake node
 * effects (by default a copy goes straight to verifying, the rest do nothing) and a fake clock read
 * through `clock` (advanced by every sleep). It ends at the first wait of a whole interval
 * (one check, whatever it did) or when the autopilot is deposed, and returns every event.
 * Register {@link cleanOneCheckDirs} once per file for its plans dirs.
 */
export async function runOneAutopilotCheck(
  ctx: ServiceContext,
  clock: {now: number},
  opts: {coolDownMs: number; limit: number; effects?: MoveEffects; stop?: AbortController},
): Promise<AutopilotEvent[]> {
  // opts.stop lets a test stop the autopilot (SIGTERM) at a moment of its choosing.
  const stop = opts.stop ?? new AbortController()
  const events: AutopilotEvent[] = []
  const effects: MoveEffects = opts.effects ?? {barrier: async () => {}, copy: async (env, m) => commitMoveTransition(env.ctx, env.fence, m, {phase: 'verifying'}), verify: async () => {}, drain: async () => {}, drop: async () => 0, catchUp: async () => {}}
  const dir = mkdtempSync(join(tmpdir(), 'ap-one-check-'))
  dirs.push(dir)
  await runAutopilot(
    ctx,
    {
      id: 'a1',
      policy: {deadAfterMs: 5000, rebalanceAbove: 100, forMs: 0, coolDownMs: opts.coolDownMs, maxBytesPerHour: null, planOptions: {}},
      intervalMs: ONE_CHECK_INTERVAL_MS,
      leaseTtlSeconds: 10,
      dryRun: false,
      limits: {maxConcurrent: opts.limit, perNode: opts.limit, incomingPerNode: opts.limit},
      throttle: null,
      healThrottle: null,
      nodeThrottle: null,
      options: DEFAULT_EXECUTOR_OPTIONS,
      plansDir: dir,
    },
    {
      now: () => clock.now,
      sleep: async (ms) => {
        clock.now += ms
        if (ms === ONE_CHECK_INTERVAL_MS) stop.abort()
      },
      report: (ev) => {
        events.push(ev)
        if (ev.type === 'deposed') stop.abort()
      },
      effects,
    },
    stop.signal,
  )
  return events
}

const dirs: string[] = []

/** cleanOneCheckDirs registers the afterEach that deletes the plans dirs of {@link runOneAutopilotCheck}. */
export function cleanOneCheckDirs(): void {
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
  })
}
