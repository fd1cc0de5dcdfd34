import {decideMove, type MoveDecision, type MoveObservation} from '../../src/executor/moveMachine.js'
import {transitionPatch} from '../../src/executor/moveStore.js'
import {type Failure} from '../../src/executor/retryPolicy.js'
import {type Move, type MovePhase} from '../../src/model/move.js'
import {type Shard} from '../../src/model/shard.js'

/**
 * World is a move, its shard and the cluster around it, held in memory: what the runner
 * would read from etcd, plus the runner's per-phase memory. {@link stepWorld} plays the
 * runner's part for one decision, without I/O, so a test can drive the whole protocol
 * through the pure machine.
 */
export interface World {
  move: Move
  shard: Shard | undefined
  /** revision is the shard's mod revision (raised by every shard change). */
  revision: bigint
  registered: Set<string>
  alive: Set<string>
  paused: boolean
  inWindow: boolean
  now: number
  done: Set<string>
  failure?: Failure
  failures: number
  tries: number
  /** stopped: the machine decided `stop` (fenced out). */
  stopped: boolean
  /** effects lists every side effect performed, in order (`type:node` for drops). */
  effects: string[]
  /** phases lists every phase committed, in order, starting with the initial one. */
  phases: MovePhase[]
  /** copyCommits is the phase the copy commits when done: `promoting` as the real one does; `verifying` as session 28's build did. */
  copyCommits?: MovePhase
}

/** Fault answers a decision with a failure (the effect or commit threw), or undefined to let it succeed. */
export type Fault = (d: Exclude<MoveDecision, {kind: 'terminal'}>, w: World) => Failure | undefined

/** worldOf builds a world for `move` on `shard` with every node of `nodes` registered and alive. */
export function worldOf(move: Move, shard: Shard | undefined, nodes: string[]): World {
  return {move, shard, revision: 100n, registered: new Set(nodes), alive: new Set(nodes), paused: false, inWindow: true, now: 1_000_000, done: new Set(), failures: 0, tries: 0, stopped: false, effects: [], phases: [move.phase]}
}

/** observationOf is what the runner would observe in `w`. */
export function observationOf(w: World): MoveObservation {
  return {
    move: w.move,
    ...(w.shard ? {shard: {value: w.shard, revision: w.revision}} : {}),
    registered: w.registered,
    alive: w.alive,
    control: {paused: w.paused, inWindow: w.inWindow},
    now: w.now,
    done: w.done,
    ...(w.failure ? {failure: w.failure} : {}),
    failures: w.failures,
    tries: w.tries,
  }
}

/** onCommit is called with the world before and the decision of every commit that lands (for invariant checks). */
export type CommitHook = (before: {move: Move; shard: Shard | undefined; revision: bigint}, d: Extract<MoveDecision, {kind: 'commit'}>, w: World) => void

/** stepWorld decides once on `w` and applies the decision as the runner would; returns the decision. */
export function stepWorld(w: World, fault?: Fault, onCommit?: CommitHook): MoveDecision {
  const d = decideMove(observationOf(w))
  delete w.failure
  if (d.kind === 'terminal' || d.kind === 'reread') return d
  if (d.kind === 'stop') {
    w.stopped = true
    return d
  }
  if (d.kind === 'wait') {
    if (d.retried) {
      w.tries++
      if (d.retried.counted) {
        w.failures++
        w.move = {...w.move, attempts: w.move.attempts + 1}
      }
    }
    w.now += d.ms
    return d
  }
  const failure = fault?.(d, w)
  if (failure) {
    w.failure = failure
    return d
  }
  if (d.kind === 'effect') {
    const e = d.effect
    w.effects.push(e.type === 'drop' ? `drop:${e.node}` : e.type)
    if (e.type === 'copy') setPhase(w, {...w.move, phase: w.copyCommits ?? 'promoting', copyStartedAt: w.move.copyStartedAt ?? w.now})
    else w.done.add(e.key)
    return d
  }
  if (d.retried) w.tries++
  const t = d.transition
  if (t.shard) {
    if (d.shardRevision !== w.revision) throw new Error(`unfenced shard change: decided on revision ${d.shardRevision}, shard is at ${w.revision}`)
    if (!w.shard || t.shard.epoch !== w.shard.epoch + 1) throw new Error(`shard change must raise the epoch by one (${w.shard?.epoch} → ${t.shard.epoch})`)
  }
  const before = {move: w.move, shard: w.shard, revision: w.revision}
  if (t.shard) {
    w.shard = t.shard
    w.revision++
  }
  setPhase(w, {...w.move, ...transitionPatch(t, new Date(w.now)), ...d.patch})
  onCommit?.(before, d, w)
  return d
}

function setPhase(w: World, next: Move): void {
  const changed = next.phase !== w.move.phase
  w.move = next
  if (!changed) return
  w.phases.push(next.phase)
  w.done = new Set()
  w.failures = 0
  w.tries = 0
}

/** runWorld steps `w` until the machine says terminal or stop, at most `maxSteps` times; returns the decisions. */
export function runWorld(w: World, fault?: Fault, maxSteps = 500, onCommit?: CommitHook): MoveDecision[] {
  const out: MoveDecision[] = []
  for (let i = 0; i < maxSteps; i++) {
    const d = stepWorld(w, fault, onCommit)
    out.push(d)
    if (d.kind === 'terminal' || d.kind === 'stop') return out
  }
  throw new Error(`move did not finish in ${maxSteps} steps (phase ${w.move.phase}, last ${JSON.stringify(out.at(-1), (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v))})`)
}
