import {describe, expect, it} from 'vitest'
import {type ErrorCode} from '../../src/errors/codes.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {isRetriableRefusal, REFUSAL_RETRY_MAX_MS, refusalRetryDelayMs} from '../../src/router/refusalRetry.js'

describe('refusalRetryDelayMs', () => {
  it('Given a generous deadline, Then pauses start at 20 ms and double up to the cap', () => {
    expect([0, 1, 2, 3, 4, 5, 40].map((n) => refusalRetryDelayMs(n, 10_000))).toEqual([20, 40, 80, 160, REFUSAL_RETRY_MAX_MS, REFUSAL_RETRY_MAX_MS, REFUSAL_RETRY_MAX_MS])
  })

  it('Given a deadline that would leave the next round less than the pause, Then no retry', () => {
    expect(refusalRetryDelayMs(0, 41)).toBe(20)
    expect(refusalRetryDelayMs(0, 40)).toBeUndefined()
    expect(refusalRetryDelayMs(5, 400)).toBeUndefined()
    expect(refusalRetryDelayMs(0, 0)).toBeUndefined()
  })
})

describe('isRetriableRefusal', () => {
  it('retries NOT_SERVING only, and not for want of disk space: fencing refusals refresh the map, unreachable nodes are not asked again', () => {
    const refusal = (code: ErrorCode, storageFull = false) => new NodeRequestError(code, `node n1: ${code}`, 'n1', 503, undefined, {storageFull})
    expect(isRetriableRefusal(refusal('NOT_SERVING'))).toBe(true)
    expect(isRetriableRefusal(refusal('NOT_SERVING', true))).toBe(false)
    for (const code of ['STALE_EPOCH', 'NOT_OWNER', 'NODE_UNREACHABLE', 'BAD_INPUT', 'CLOCK_OFFSET', 'INTERNAL'] as const) expect(isRetriableRefusal(refusal(code))).toBe(false)
    expect(isRetriableRefusal(new Error('NOT_SERVING'))).toBe(false)
  })
})
