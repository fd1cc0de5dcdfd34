import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, expect} from 'vitest'
import {type AutopilotEvent, runAutopilot} from '../../src/autopilot/autopilotLoop.js'
import {autopilotKeys, AutopilotStateSchema} from '../../src/autopilot/autopilotState.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {setNodeState} from '../../src/cluster/nodeService.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {DEFAULT_EXECUTOR_OPTIONS, type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {commitMoveTransition, type FencedMove} from '../../src/executor/moveStore.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

/** ONE_CHECK_INTERVAL_MS is the autopilot interval of {@link runOneAutopilotCheck}: its first wait of this long ends the run. */
export const ONE_CHECK_INTERVAL_MS = 60_000

/**
 * runOneAutopilotCheck runs the real runAutopilot on `ctx` for one check, with fake node
 * effects (by default a copy goes straight to promoting, the rest do nothing) and a fake clock read
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
  const effects = opts.effects ?? fakeEffects()
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

/** promotingAfterCopy is a fake copy's end: the move goes straight to promoting, as the real copy's end does (nothing is copied). */
export function promotingAfterCopy(env: ExecutorEnv, m: FencedMove): Promise<FencedMove> {
  return commitMoveTransition(env.ctx, env.fence, m, {phase: 'promoting'})
}

/**
 * fakeEffects are node effects that do nothing, but for a copy that goes straight to
 * promoting; `over` replaces some (a test's own copy, doing something under it).
 */
export function fakeEffects(over: Partial<MoveEffects> = {}): MoveEffects {
  return {barrier: async () => {}, copy: async (env, m) => promotingAfterCopy(env, m), verify: async () => {}, drain: async () => {}, drop: async () => 0, catchUp: async () => {}, ...over}
}

/**
 * drainingN3Cluster is the cluster the one-check tests start from, shared so that each says
 * only what it changes: `shards` shards (rf 1) on n1, n2, n3 in a memory store (cluster name
 * `cluster`), all three alive and n3 draining, so the first check heals (moves n3's replicas
 * away). `clock` is the fake clock its context reads (pass it to runOneAutopilotCheck);
 * `state` reads the autopilot's recorded state.
 */
export async function drainingN3Cluster(cluster: string, shards = 6) {
  const clock = {now: 1_000_000}
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster}, () => new Date(clock.now))
  await initCluster(ctx, {shards, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102,n3=127.0.0.1:7103'), force: false})
  for (const id of ['n1', 'n2', 'n3']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  await setNodeState(ctx, 'n3', 'draining')
  const state = async () => (await store.getTyped(autopilotKeys(ctx.keys.prefix).state, AutopilotStateSchema))?.value
  return {clock, store, ctx, state}
}

/**
 * beforeExecutorLockGrant makes `store` run `fn` just before it grants the lease of the
 * executor lock of the autopilot's first apply: its second grant (the first is the autopilot's
 * leadership lock). That is the gap between a check's observation and its apply, where the
 * tests put what a human does. `fn` gets the unpatched grant (a grant through the store
 * itself, as acquireLock's, counts as a later one and runs nothing).
 */
export function beforeExecutorLockGrant(store: MemoryStore, fn: (grant: MemoryStore['grantLease']) => Promise<unknown>): void {
  let grants = 0
  const grant = store.grantLease.bind(store)
  store.grantLease = async (ttl) => {
    if (++grants === 2) await fn(grant)
    return grant(ttl)
  }
}

const dirs: string[] = []

/** cleanOneCheckDirs registers the afterEach that deletes the plans dirs of {@link runOneAutopilotCheck}. */
/**
 * sleepCountingClock is a test clock the check's every sleep advances (its `now` setter): at the
 * `limit`th advance it calls `onLimit` once (stop the check, lapse its leases), so a check that
 * would otherwise sleep for ever (a leader deaf to its stop) ends and is seen to.
 */
export function sleepCountingClock(start: number, limit: number, onLimit: () => void): {now: number} {
  let sleeps = 0
  let now = start
  return {
    get now() {
      return now
    },
    set now(v: number) {
      now = v
      if (++sleeps === limit) onLimit()
    },
  }
}

/** expectNothingCounted: the autopilot state counts no bytes against --max-bytes-per-hour and cools no shard down (a plan of which nothing ran). */
export function expectNothingCounted(state: {history: {spent: unknown; movedAt: unknown}} | undefined): void {
  expect(state?.history.spent).toEqual([])
  expect(state?.history.movedAt).toEqual({})
}

export function cleanOneCheckDirs(): void {
  afterEach(() => {
    for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
  })
}
