import {describe, expect, it} from 'vitest'
import {type ExecutorEnv} from '../../src/executor/executorEnv.js'
import {type MoveEffects} from '../../src/executor/moveEffects.js'
import {runMove} from '../../src/executor/moveRunner.js'
import {LockLostError, getMove} from '../../src/executor/moveStore.js'
import {copyShard} from '../../src/executor/nodeCopy.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {type PullStatusResponse} from '../../src/node/protocol.js'
import {type LockState} from '../../src/redis/lockGate.js'
import {copyingCluster, fakeClock, fakeClockEnv} from './fixtures.js'

/**
 * A kv executor frozen (SIGSTOP, a GC pause, a VM stall) past its lease wakes with its lease's
 * deadline passed: `lockState()` says lost at once (the deadline is checked synchronously,
 * src/etcd/leaseHandle.ts), but `stopped()` turns true only when the deadline's timer runs,
 * and a sleep that ended during the freeze may run first (timers run in expiry order, the
 * promise continuations between them). In that window the woken executor must send no request
 * that starts or changes work on a node: another executor may hold the move now, and the
 * etcd fence on its records cannot take back a request a node already acted on. Seen: a copy
 * frozen while it retried an unreachable destination woke, pushed its node rates and asked the
 * destination to pull again, at its own stale rate, over a takeover that had paused the copy
 * (`moves pause`) or slowed it (`throttle set`).
 */

const lostLock = (key: string): LockState => ({key, lost: true, msLeft: -2000})

describe('a kv executor whose lease deadline passed while it slept', () => {
  it('given a copy retrying an unreachable destination, when it wakes past its lease deadline, then it sends no pull and no node rate and stops with LockLostError', async () => {
    const clock = fakeClock()
    const {ctx, fence, moves} = await copyingCluster(() => clock.now, {cluster: 'lease-gate-copy', nodes: 2, shards: 1})
    const move = moves[0]!
    let frozen = false
    const sent: string[] = []
    const status: PullStatusResponse = {shard: move.shard, moveId: move.id, epoch: move.epoch, state: 'running', bytes: 0, dataBytes: 0, keys: 0, cursor: null, source: move.from, rate: null, error: null, errorCode: null, failedSource: null}
    const node = {
      address: '127.0.0.1:1',
      setThrottle: async () => {
        sent.push(`setThrottle${frozen ? ' after the deadline' : ''}`)
        return {}
      },
      cancelPull: async () => status,
      pull: async () => {
        sent.push(`pull${frozen ? ' after the deadline' : ''}`)
        // Before the freeze the destination is unreachable: the copy sleeps and asks again.
        if (!frozen) throw new NodeRequestError('NODE_UNREACHABLE', 'connect ECONNREFUSED', move.to, 0)
        return status
      },
      pullStatus: async () => status,
    } as unknown as NodeClient
    const base = fakeClockEnv(clock)
    const env: ExecutorEnv = {
      ctx,
      fence,
      client: async () => node,
      ...base,
      // The freeze: the first sleep (after the refused pull) outlasts the lease.
      sleep: async (ms) => {
        await base.sleep(ms)
        frozen = true
      },
      lockState: () => (frozen ? lostLock(fence.key) : {key: fence.key, lost: false, msLeft: 9000}),
      stopped: () => sent.length > 20,
      emit: () => {},
    }
    await expect(copyShard(env, await getMove(ctx, move.id))).rejects.toBeInstanceOf(LockLostError)
    expect(sent.filter((s) => s.endsWith('after the deadline'))).toEqual([])
  })

  it('given a move with a side effect to run, when its executor wakes past its lease deadline, then the runner runs no effect and stops with LockLostError', async () => {
    const clock = fakeClock()
    const {ctx, fence, moves} = await copyingCluster(() => clock.now, {cluster: 'lease-gate-run', nodes: 2, shards: 1})
    const ran: string[] = []
    const effects: MoveEffects = {
      barrier: async () => void ran.push('barrier'),
      copy: async (_env, m) => {
        ran.push('copy')
        return m
      },
      verify: async () => void ran.push('verify'),
      drain: async () => void ran.push('drain'),
      drop: async () => {
        ran.push('drop')
        return 0
      },
      catchUp: async () => void ran.push('catchUp'),
    }
    let observed = 0
    const env: ExecutorEnv = {
      ctx,
      fence,
      client: async () => {
        throw new Error('no node client in this test')
      },
      ...fakeClockEnv(clock),
      effects,
      lockState: () => lostLock(fence.key),
      stopped: () => observed++ > 20,
      emit: () => {},
    }
    await expect(runMove(env, await getMove(ctx, moves[0]!.id))).rejects.toBeInstanceOf(LockLostError)
    expect(ran).toEqual([])
  })
})
