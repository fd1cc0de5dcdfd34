import {UserError} from '../errors/errors.js'
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

/** PHASE_FAULT_VARIABLE names the environment variable that sets a {@link PhaseFault}. */
export const PHASE_FAULT_VARIABLE = 'SHARDCTL_TEST_PHASE_FAULT'

/**
 * parsePhaseFault reads the variable's value: undefined when unset or empty. Throws
 * UserError(BAD_INPUT) naming the value and the expected form when malformed (a test typo must
 * not silently test nothing), so the CLI prints the one line and exits 2 like any other refused
 * SHARDCTL_* variable (src/config/wholeNumberEnv.ts); until session 41 it was a plain Error
 * thrown while the module loaded, which oclif printed as a wrapped block with exit 1.
 */
export function parsePhaseFault(text: string | undefined): PhaseFault | undefined {
  if (!text) return undefined
  const [when, phase, action, ...rest] = text.split(':')
  if (rest.length > 0 || (when !== 'before' && when !== 'after') || !MOVE_PHASES.includes(phase as MovePhase) || (action !== 'kill' && action !== 'stop')) {
    throw new UserError('BAD_INPUT', `${PHASE_FAULT_VARIABLE}: "${text}" is not <before|after>:<phase>:<kill|stop> (phases: ${MOVE_PHASES.join(', ')})`, `set e.g. ${PHASE_FAULT_VARIABLE}=after:copying:kill, or unset it (it is for tests only)`)
  }
  return {when, phase: phase as MovePhase, action}
}

// Parsed on first use, not at load: a throw while the module loads escapes the command's error
// handler. Commands refuse a bad value before they do anything (resolveCommandConnection).
let fault: PhaseFault | undefined | null = null
let fired = false

/**
 * phaseFaultAt fires the configured fault when a transition from `from` into `to` is at the
 * boundary it names (`to` is the fault's phase, `from` another), at most once per process (a
 * stopped executor continued with SIGCONT goes on normally). Throws UserError(BAD_INPUT) when
 * the variable is malformed (see parsePhaseFault).
 */
export function phaseFaultAt(when: PhaseFault['when'], from: MovePhase, to: MovePhase | undefined): void {
  if (fault === null) fault = parsePhaseFault(process.env[PHASE_FAULT_VARIABLE])
  if (!fault || fired || fault.when !== when || to !== fault.phase || from === to) return
  fired = true
  process.kill(process.pid, fault.action === 'kill' ? 'SIGKILL' : 'SIGSTOP')
}
