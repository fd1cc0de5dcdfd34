import {MOVE_PHASES, type MovePhase} from '../model/move.js'

/**
 * PhaseFault is a test-only fault at a move phase boundary: the executor process signals
 * itself (`kill`: SIGKILL, `stop`: SIGSTOP) right `before` it commits a move's transition into
 * `phase`, or right `after` etcd acknowledged it. Tests set it through
 * SHARDCTL_TEST_PHASE_FAULT=<before|after>:<phase>:<kill|stop> to crash (or freeze, so they can
 * kill a node or router at that exact boundary and then SIGCONT it) a real `apply` exactly
 * at each boundary (test/integration/executor/phaseKill*.test.ts). Unset: nothing happens.
 */
export interface PhaseFault {
  when: 'before' | 'after'
  phase: MovePhase
  action: 'kill' | 'stop'
}

/** parsePhaseFault reads the variable's value: undefined when unset or empty; throws naming the expected form when malformed (a test typo must not silently test nothing). */
export function parsePhaseFault(text: string | undefined): PhaseFault | undefined {
  if (!text) return undefined
  const [when, phase, action, ...rest] = text.split(':')
  if (rest.length > 0 || (when !== 'before' && when !== 'after') || !MOVE_PHASES.includes(phase as MovePhase) || (action !== 'kill' && action !== 'stop')) {
    throw new Error(`SHARDCTL_TEST_PHASE_FAULT="${text}" is not <before|after>:<phase>:<kill|stop> (phases: ${MOVE_PHASES.join(', ')})`)
  }
  return {when, phase: phase as MovePhase, action}
}

const FAULT = parsePhaseFault(process.env.SHARDCTL_TEST_PHASE_FAULT)
let fired = false

/**
 * phaseFaultAt fires the configured fault when a transition from `from` into `to` is at the
 * boundary it names (`to` is the fault's phase, `from` another), at most once per process (a
 * stopped executor continued with SIGCONT goes on normally).
 */
export function phaseFaultAt(when: PhaseFault['when'], from: MovePhase, to: MovePhase | undefined): void {
  if (!FAULT || fired || FAULT.when !== when || to !== FAULT.phase || from === to) return
  fired = true
  process.kill(process.pid, FAULT.action === 'kill' ? 'SIGKILL' : 'SIGSTOP')
}
