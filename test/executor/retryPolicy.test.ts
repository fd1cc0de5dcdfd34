import {describe, expect, it} from 'vitest'
import {BugError, UserError} from '../../src/errors/errors.js'
import {LockLostError} from '../../src/executor/moveStore.js'
import {backoffMs, classifyError, judgeFailure, judgeRunFailure, MoveFailure, RETRY_POLICY, WaitingForNode} from '../../src/executor/retryPolicy.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'

describe('retry policy', () => {
  it('classifies what a step throws in one place', () => {
    expect(classifyError(new LockLostError('lock/executor')).kind).toBe('lock-lost')
    expect(classifyError(new UserError('CONFLICT', 'raced')).kind).toBe('conflict')
    expect(classifyError(new WaitingForNode('PRECONDITION', 'node d is down')).kind).toBe('waiting-for-node')
    expect(classifyError(new MoveFailure('source unreachable')).kind).toBe('abort-now')
    expect(classifyError(new UserError('PRECONDITION', 'barrier not reached')).kind).toBe('retriable')
    expect(classifyError(new NodeRequestError('NOT_SERVING', 'node restarting', 'n1', 503)).kind).toBe('retriable')
    expect(classifyError(new BugError('invariant broken')).kind).toBe('bug')
    expect(classifyError(new TypeError('x is undefined')).kind).toBe('bug')
    expect(classifyError('a string').kind).toBe('bug')
  })

  it('backs off from 400 ms, doubling, capped at 5 s', () => {
    expect([1, 2, 3, 4, 5, 6, 20].map(backoffMs)).toEqual([400, 800, 1600, 3200, 5000, 5000, 5000])
  })

  it('bounds counted failures: aborts before cutover, fails while aborting, retries past cutover', () => {
    const at = (phase: 'copying' | 'aborting' | 'release', failures: number) => judgeFailure({phase, failures, tries: failures, reason: 'was'}, {kind: 'retriable', message: 'm'})
    expect(at('copying', RETRY_POLICY.maxAttempts - 2)).toMatchObject({do: 'retry', counted: true})
    expect(at('copying', RETRY_POLICY.maxAttempts - 1)).toMatchObject({do: 'abort', counted: true})
    expect(at('aborting', RETRY_POLICY.maxAttempts - 1)).toMatchObject({do: 'fail', reason: expect.stringMatching(/after 8 attempts: m \(was: was\); needs an operator/)})
    expect(at('release', 100)).toMatchObject({do: 'retry', counted: true})
  })

  it('never counts waiting for a down node, however long', () => {
    expect(judgeFailure({phase: 'aborting', failures: 50, tries: 50, reason: null}, {kind: 'waiting-for-node', message: 'down'})).toEqual({do: 'retry', afterMs: 5000, counted: false})
  })
})

describe('judgeRunFailure', () => {
  const base = {failures: 0, progressed: false, counts: true, message: 'boom', wayOut: 'do X'}
  it('counts runs in a row without progress and gives up at maxAttempts, naming the last error and the way out', () => {
    let failures = 0
    for (let run = 1; run < RETRY_POLICY.maxAttempts; run++) {
      const v = judgeRunFailure({...base, failures})
      expect(v).toEqual({do: 'retry', afterMs: backoffMs(run), failures: run})
      failures = run
    }
    expect(judgeRunFailure({...base, failures})).toEqual({do: 'fail', reason: `gave up after ${RETRY_POLICY.maxAttempts} runs in a row failed without progress; last: boom; do X`})
  })
  it('starts again at 1 after a run that made progress, and does not count trouble that is not the move\'s', () => {
    expect(judgeRunFailure({...base, failures: RETRY_POLICY.maxAttempts - 1, progressed: true})).toMatchObject({do: 'retry', failures: 1})
    expect(judgeRunFailure({...base, failures: RETRY_POLICY.maxAttempts - 1, counts: false})).toMatchObject({do: 'retry', failures: RETRY_POLICY.maxAttempts - 1})
  })
})
