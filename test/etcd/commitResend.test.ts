import * as etcd from 'etcd3'
import {describe, expect, it} from 'vitest'
import {resendPolicy, trackResends} from '../../src/etcd/commitResend.js'

/** flaky fails its first `n` calls with `err`, then answers 'ok'; counts its calls. */
function flaky(n: number, err: () => Error) {
  const f = async () => {
    f.calls++
    if (f.calls <= n) throw err()
    return 'ok'
  }
  f.calls = 0
  return f
}

describe('resendPolicy: etcd3\'s resends, told to the commit', () => {
  it('Given a call that fails on the connection twice, When tracked, Then it is sent again, answers and says it was resent', async () => {
    const call = flaky(2, () => new etcd.GRPCUnavailableError('reset'))

    const out = await trackResends(() => resendPolicy.execute(call))

    expect(out).toEqual({value: 'ok', resent: true})
    expect(call.calls).toBe(3)
  })

  it('Given a call that answers at once, Then it was not resent', async () => {
    expect(await trackResends(() => resendPolicy.execute(flaky(0, () => new Error())))).toEqual({value: 'ok', resent: false})
  })

  it('Given a connection failing every time, Then it gives up after 3 resends (etcd3\'s default) with the last error', async () => {
    const call = flaky(10, () => new etcd.GRPCDeadlineExceededError('slow'))

    await expect(resendPolicy.execute(call)).rejects.toBeInstanceOf(etcd.GRPCDeadlineExceededError)
    expect(call.calls).toBe(4)
  })

  it('Given an error that is not about the connection (auth, invalid argument), Then it is not resent', async () => {
    const call = flaky(1, () => new etcd.GRPCInvalidArgumentError('bad'))

    await expect(trackResends(() => resendPolicy.execute(call))).rejects.toBeInstanceOf(etcd.GRPCInvalidArgumentError)
    expect(call.calls).toBe(1)
  })

  it('Given a resent call whose next attempts an open circuit breaker refuses unsent, When the breaker lets it through, Then it is sent and answers (not reported unreachable)', async () => {
    const broken = () => Object.assign(new Error('Execution prevented because the circuit breaker is open'), {isBrokenCircuitError: true})
    let calls = 0
    const call = async () => {
      calls++
      if (calls === 1) throw new etcd.GRPCUnavailableError('Connection dropped')
      if (calls <= 4) throw broken()
      return 'ok'
    }

    expect(await trackResends(() => resendPolicy.execute(call))).toEqual({value: 'ok', resent: true})
    expect(calls).toBe(5)
  })

  it('Given a call not resent (or not tracked) refused by an open breaker, Then it fails at once, as etcd3 intends (reads and the keepalive hedge fail over)', async () => {
    const broken = flaky(10, () => Object.assign(new Error('circuit breaker is open'), {isBrokenCircuitError: true}))
    await expect(trackResends(() => resendPolicy.execute(broken))).rejects.toThrow(/circuit breaker/)
    expect(broken.calls).toBe(1)
  })

  it('Given a tracked call whose attempts never connected (an etcd never reached), When the breaker opens, Then it fails at once (nothing of it can have landed)', async () => {
    let calls = 0
    const call = async () => {
      calls++
      if (calls === 1) throw new etcd.GRPCUnavailableError('14 UNAVAILABLE: No connection established. Last error: connect ECONNREFUSED 127.0.0.1:9')
      throw Object.assign(new Error('circuit breaker is open'), {isBrokenCircuitError: true})
    }
    await expect(trackResends(() => resendPolicy.execute(call))).rejects.toThrow(/circuit breaker/)
    expect(calls).toBe(2)
  })

  it('Given two calls at once, one resent, Then only that one says so', async () => {
    const [a, b] = await Promise.all([trackResends(() => resendPolicy.execute(flaky(1, () => new etcd.GRPCUnavailableError('x')))), trackResends(() => resendPolicy.execute(flaky(0, () => new Error())))])

    expect(a.resent).toBe(true)
    expect(b.resent).toBe(false)
  })
})
