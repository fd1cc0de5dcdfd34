import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {initCluster} from '../../src/cluster/initCluster.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {readSnapshot} from '../../src/cluster/snapshotService.js'
import {type ExecutorEvent} from '../../src/executor/executorEnv.js'
import {formatWindow, parseWindow} from '../../src/executor/window.js'
import {sealPlan} from '../../src/model/plan.js'
import {planRebalance} from '../../src/planner/planRebalance.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {fakeClock, fakeClockApply} from './fixtures.js'

/**
 * `apply --window` started outside its window printed the plan, then nothing: the moves sat
 * pending, `moves list` had no note, and the run looked hung (in CI too) until the window
 * opened. The run now says it waits for the window, and says when it opens.
 */
async function applyOneMoveIn(window: string, startLocal: Date) {
  const clock = fakeClock(startLocal.getTime())
  const store = new MemoryStore()
  const ctx = makeServiceContext(store, {cluster: 'window-notice'}, () => new Date(clock.now))
  await initCluster(ctx, {shards: 2, rf: 1, nodes: parseNodeSpecs('n1=127.0.0.1:7101,n2=127.0.0.1:7102'), force: false})
  for (const id of ['n1', 'n2']) await store.put(ctx.keys.alive(id), JSON.stringify({node: id, address: '127.0.0.1:1', pid: 1, startedAt: 't'}))
  const shard = (await listShards(ctx)).shards[0]!.value
  const from = shard.replicas[0]!.node
  const template = planRebalance(await readSnapshot(ctx), {}, {id: 'x', createdAt: new Date(clock.now).toISOString()})
  const plan = sealPlan({...template, id: 'w1', actions: [{kind: 'move', shard: shard.id, epoch: shard.epoch, from, to: from === 'n1' ? 'n2' : 'n1', bytes: 0, keys: 0, reason: {kind: 'balance', detail: 'x'}, predicted: {source: 1, target: 1}}]})
  const events: ExecutorEvent[] = []
  const result = await fakeClockApply(ctx, clock, {plan, limits: {maxConcurrent: 1, perNode: 1}, window: parseWindow(window), emit: (e) => void events.push(e)})
  return {result, said: events.flatMap((e) => (e.type === 'info' ? [e.message] : []))}
}

describe('apply --window', () => {
  it('formats a window as it was given', () => {
    expect(formatWindow(parseWindow('1:05-05:00'))).toBe('01:05-05:00')
    expect(formatWindow(parseWindow('23:00-01:30'))).toBe('23:00-01:30')
  })

  it('Given a run started outside its window, Then it says once that its moves wait for the window, then once that the window opened, and the move runs', async () => {
    const {result, said} = await applyOneMoveIn('10:02-10:30', new Date(2026, 11, 4, 10, 0, 0))
    expect(result.counts.done).toBe(1)
    expect(said.filter((m) => m.includes('window'))).toEqual(['outside the maintenance window 10:02-10:30 (local time): 1 move(s) wait for it to open', 'the maintenance window 10:02-10:30 is open: moves go on'])
  })

  it('Given a run started inside its window, Then it says nothing about the window', async () => {
    const {result, said} = await applyOneMoveIn('09:00-11:00', new Date(2026, 11, 4, 10, 0, 0))
    expect(result.counts.done).toBe(1)
    expect(said.filter((m) => m.includes('window'))).toEqual([])
  })
})
