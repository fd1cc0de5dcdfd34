import {describe, expect, it} from 'vitest'
import {renderError} from '../../src/cli/renderError.js'
import {afterConfirmedError, applyOutcome, drainOutcome} from '../../src/cli/runOutcome.js'
import {UserError} from '../../src/errors/errors.js'
import {EXIT_CODES} from '../../src/errors/codes.js'
import {type MovePhase} from '../../src/model/move.js'

function run(phases: MovePhase[], stopped: boolean) {
  const counts: Partial<Record<MovePhase, number>> = {}
  for (const p of phases) counts[p] = (counts[p] ?? 0) + 1
  return {stopped, counts, moves: phases.map((phase, i) => ({id: `m${i}`, shard: i, from: 'n1', to: 'n2', phase, reason: null, bytes: 0}))}
}

describe('applyOutcome', () => {
  it('is success only when every move finished well and nothing stopped the run', () => {
    expect(applyOutcome(run(['done', 'skipped'], false))).toEqual({code: null, line: null})
  })

  it('calls a run with an aborted or failed move incomplete (exit 1, as apply always did)', () => {
    expect(applyOutcome(run(['done', 'aborted'], false)).code).toBe('INCOMPLETE')
    expect(applyOutcome(run(['failed'], false)).code).toBe('INCOMPLETE')
    expect(EXIT_CODES.INCOMPLETE).toBe(1)
  })

  it('calls a stopped run interrupted (exit 130) and offers --resume only when a recorded move is unfinished', () => {
    const withWork = applyOutcome(run(['done', 'copying', 'pending'], true))
    expect(withWork.code).toBe('INTERRUPTED')
    expect(EXIT_CODES.INTERRUPTED).toBe(130)
    expect(withWork.line).toMatch(/2 recorded move\(s\) unfinished.*apply --resume/)
    const nothing = applyOutcome(run([], true))
    expect(nothing.code).toBe('INTERRUPTED')
    expect(nothing.line).not.toMatch(/apply --resume/)
    expect(nothing.line).toMatch(/nothing to resume/)
  })

  it('says a run stopped by a lost executor lease stopped for that (nobody pressed Ctrl-C), still exit 130 and --resume once the lock is free', () => {
    const lost = applyOutcome({...run(['done', 'copying'], true), leaseLost: true})
    expect(lost.code).toBe('INTERRUPTED')
    expect(lost.line).toMatch(/^Interrupted: the executor lost its lease on the executor lock .*another executor may hold the lock now: 1 recorded move\(s\) unfinished.*apply --resume` once the executor lock is free\.$/)
    expect(lost.line).not.toContain('\n')
    expect(applyOutcome({...run(['done'], true), leaseLost: true}).line).toMatch(/lost its lease.*nothing to resume/)
    expect(applyOutcome({...run(['copying'], true), leaseLost: false}).line).toMatch(/^Interrupted: 1 recorded/)
  })
})

describe('drainOutcome', () => {
  it('is success when the node holds no replica, even if a move on the way had to abort and was replanned', () => {
    expect(drainOutcome({remaining: 0, result: run(['done', 'aborted'], false)}).code).toBeNull()
    expect(drainOutcome({remaining: 0, result: null}).code).toBeNull()
  })

  it('is incomplete (non-zero) while the node still holds replicas', () => {
    expect(drainOutcome({remaining: 2, result: run(['done', 'aborted'], false)}).code).toBe('INCOMPLETE')
    expect(drainOutcome({remaining: 1, result: run(['done'], false)}).code).toBe('INCOMPLETE')
  })

  it('is interrupted when the run was stopped', () => {
    expect(drainOutcome({remaining: 3, result: run(['copying'], true)}).code).toBe('INTERRUPTED')
  })
})

describe('a run warned of possible data loss (exit 23) and also interrupted or incomplete', () => {
  // A master restarted without persistence during a move that then ended `done`, and the run
  // was stopped later (another move unfinished): 130 hid the loss, and the `apply --resume` that
  // followed runs only the unfinished moves, so no exit status ever said it (0 at the end).
  const lossy = (phases: MovePhase[], stopped: boolean, lossAt = 0) => {
    const r = run(phases, stopped)
    return {...r, moves: r.moves.map((m, i) => ({...m, warnings: i === lossAt ? [{key: 'restart:n2:r2', at: 't', text: 'lost', mayHaveLostData: true}] : []}))}
  }

  it('Given a done move warned of loss in an interrupted run, Then the exit is POSSIBLE_DATA_LOSS and the line still says what to resume', () => {
    const o = applyOutcome(lossy(['done', 'copying'], true))
    expect(o.code).toBe('POSSIBLE_DATA_LOSS')
    expect(o.line).toMatch(/acknowledged keys may be lost.*interrupted: 1 recorded move\(s\) unfinished.*apply --resume/i)
  })

  it('Given a lost lease, Then the line says the lease was lost besides the loss', () => {
    const o = applyOutcome({...lossy(['done', 'copying'], true), leaseLost: true})
    expect(o.code).toBe('POSSIBLE_DATA_LOSS')
    expect(o.line).toMatch(/acknowledged keys may be lost.*lost its lease.*1 recorded move\(s\) unfinished/)
  })

  it('Given a lossy move and an aborted one, Then POSSIBLE_DATA_LOSS wins over INCOMPLETE and the line names the aborted or failed moves', () => {
    const o = applyOutcome(lossy(['done', 'aborted', 'failed'], false))
    expect(o.code).toBe('POSSIBLE_DATA_LOSS')
    expect(o.line).toMatch(/2 move\(s\) ended aborted or failed/)
  })

  it('Given a drain that left replicas and a lossy move, Then POSSIBLE_DATA_LOSS, and the line says the node still holds them', () => {
    const o = drainOutcome({remaining: 2, result: lossy(['done'], false)})
    expect(o.code).toBe('POSSIBLE_DATA_LOSS')
    expect(o.line).toMatch(/still holds 2 replica\(s\)/)
  })

  it('Given kv loss warnings (a source abandoned, a destination lost after the drop) beside a master restart, Then the line names each kind and moves ack; acknowledged ones do not count', () => {
    const r = run(['done', 'done', 'done'], false)
    const warned = (key: string, acknowledgedAt?: string) => [{key, at: 't', text: 'lost', mayHaveLostData: true, ...(acknowledgedAt ? {acknowledgedAt} : {})}]
    const moves = [warned('source-abandoned:n1:t'), warned('dropped-source:n2:d/i'), warned('restart:n3:r')]
    const o = applyOutcome({...r, moves: r.moves.map((m, i) => ({...m, warnings: moves[i]!}))})
    expect(o.code).toBe('POSSIBLE_DATA_LOSS')
    expect(o.line).toBe('3 move(s) may have lost acknowledged data (went on without a source abandoned with --accept-data-loss; a destination restarted without its copy after the source dropped its own; a master they used restarted without persistence); `shardctl moves show <id>` says what, and `shardctl moves ack <id>` acknowledges it once checked.')
    const acked = applyOutcome({...r, moves: r.moves.map((m) => ({...m, warnings: warned('source-abandoned:n1:t', 't2')}))})
    expect(acked.code).toBeNull()
  })

  it('Given only a loss, Then the line is the loss alone', () => {
    expect(applyOutcome(lossy(['done'], false)).line).toBe('1 move(s) ran while a master they used restarted without persistence: acknowledged keys may be lost; `shardctl moves show <id>` names the master and the slots.')
  })
})

describe('afterConfirmedError', () => {
  // etcd stopped mid-apply: the run exited 3 with "start a local one with `shardctl etcd start`"
  // and nothing about the moves it had recorded, which only `apply --resume` continues.
  const lost = new UserError('ETCD_UNREACHABLE', 'etcd at http://127.0.0.1:2379 (from --endpoints) is unreachable: connect ECONNREFUSED', 'start a local one with `shardctl etcd start`, or point --endpoints / ETCDCTL_ENDPOINTS at a running etcd')

  it('Given etcd lost after the run was confirmed, Then the error keeps its code and message and its hint adds how to continue', () => {
    const err = afterConfirmedError(lost, true) as UserError
    expect(err.code).toBe('ETCD_UNREACHABLE')
    expect(err.message).toBe(lost.message)
    const {line, exitCode} = renderError(err, 'apply')
    expect(exitCode).toBe(3)
    expect(line.split('\n')).toHaveLength(1)
    expect(line).toMatch(/running etcd; once it answers again, `shardctl moves list` shows what this run recorded and `shardctl apply --resume` continues it$/)
  })

  it('Given etcd lost before the confirmation (nothing recorded), or another error, Then it is passed on as it was', () => {
    expect(afterConfirmedError(lost, false)).toBe(lost)
    const other = new UserError('LOCK_HELD', 'held')
    expect(afterConfirmedError(other, true)).toBe(other)
  })
})
