import {describe, expect, it} from 'vitest'
import {retryFor} from '../../src/clock/retryFor.js'

class Busy extends Error {}

describe('retryFor', () => {
  it('tries a retriable failure again until the attempt succeeds', async () => {
    let calls = 0
    const got = await retryFor(
      () => {
        calls++
        if (calls < 3) throw new Busy('busy')
        return 'ok'
      },
      (e) => e instanceof Busy,
      60_000,
      1,
    )
    expect([got, calls]).toEqual(['ok', 3])
  })

  it('throws an error it may not retry at once, and a retriable one once the wait is over (0: after one attempt)', async () => {
    let calls = 0
    const fatal = new Error('no such dir')
    await expect(retryFor(() => Promise.reject(fatal), (e) => e instanceof Busy, 60_000, 1)).rejects.toBe(fatal)
    await expect(
      retryFor(
        () => {
          calls++
          throw new Busy('still busy')
        },
        (e) => e instanceof Busy,
        0,
        1,
      ),
    ).rejects.toBeInstanceOf(Busy)
    expect(calls).toBe(1)
  })
})
