import {describe, expect, it} from 'vitest'
import {FailureStreak} from '../../src/log/failureStreak.js'

describe('FailureStreak', () => {
  it('logs the first failure and holds back repeats of the same message for the repeat interval', () => {
    const s = new FailureStreak(60_000)
    expect(s.failed('ENOSPC', 0)).toEqual({level: 'warn', failures: 1, suppressed: 0})
    for (let t = 1000; t < 60_000; t += 1000) expect(s.failed('ENOSPC', t)).toBeUndefined()
    // 59 held back; the reminder a minute after the last line says so.
    expect(s.failed('ENOSPC', 60_000)).toEqual({level: 'warn', failures: 61, suppressed: 59})
    expect(s.failed('ENOSPC', 61_000)).toBeUndefined()
  })

  it('logs a changed reason at once', () => {
    const s = new FailureStreak(60_000)
    s.failed('ENOSPC', 0)
    expect(s.failed('ENOSPC', 1)).toBeUndefined()
    expect(s.failed('etcd unreachable', 2)).toEqual({level: 'warn', failures: 3, suppressed: 1})
  })

  it('says when a streak ends and starts the next one afresh', () => {
    const s = new FailureStreak(60_000)
    expect(s.succeeded()).toBeUndefined()
    s.failed('ENOSPC', 0)
    s.failed('ENOSPC', 1)
    expect(s.succeeded()).toEqual({level: 'info', failures: 2, suppressed: 1})
    expect(s.succeeded()).toBeUndefined()
    expect(s.failed('ENOSPC', 2)).toEqual({level: 'warn', failures: 1, suppressed: 0})
  })
})
