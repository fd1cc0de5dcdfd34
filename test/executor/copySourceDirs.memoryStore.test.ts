import {describe, expect, it} from 'vitest'
import {decideMove} from '../../src/executor/moveMachine.js'
import {type Move} from '../../src/model/move.js'
import {moveOf, shardOf, sourceDownWorld} from './fixtures.js'
import {machineObservation} from './machineObservation.js'

/**
 * A copy or verification with the move's source down reads the other old voters (liveCopySources.ts). One of them up on
 * a replaced data dir (restarted with --accept-empty-data since the copy began) lost every write it acknowledged: until
 * session 42 it was counted as a holder all the same. rf 3 with w = 2: a write acknowledged by the source n1 and the
 * voter n2 alone is on n1 only once n2 is replaced; copying from (and verifying against) n2 and n3 gave the destination
 * a copy without it, verification compared it with the same voters and passed, and the cutover lost the write.
 * The copy's start records the old voters' claims (`copyDirs`), and one on another data dir since is not counted.
 */
/** world: verification at rf 3 (w = 2) with the source down; `b` and `c` are the other old voters' [now, at copy start] data dirs (copyDirs absent: undefined). */
async function world(b: [string, string | undefined], c: [string, string | undefined], phase: Move['phase'] = 'verifying') {
  const w = await sourceDownWorld(3, phase, (initial, _from, to) => ({...initial, epoch: initial.epoch + 2, replicas: [...initial.replicas, {node: to, role: 'joining'}]}), {
    alive: ({to, others}) => [to, ...others],
    routerW: [2],
  })
  const copyDirs: Record<string, string> = {}
  for (const [node, [now, then]] of [[w.others[0]!, b], [w.others[1]!, c]] as const) {
    const [dataDirId, instance] = now.split('/')
    await w.store.put(w.ctx.keys.claim(node), JSON.stringify({node, dataDirId, instance}))
    if (then !== undefined) copyDirs[node] = then
  }
  const move: Move = {...w.move, ...(Object.keys(copyDirs).length > 0 ? {copyDirs} : {})}
  return {...w, move, verify: () => w.effects.verify(move, w.shard)}
}

describe('copy sources judged by the data dir they served when the copy began', () => {
  it('the copy\'s start (joining → copying) records the other old voters\' claims (copyDirs)', () => {
    const s = shardOf(1, ['a', 'b', 'c'], 6)
    const shard = {...s, replicas: [...s.replicas, {node: 'd', role: 'learning' as const}]}
    const move = moveOf({shard: 1, from: 'a', to: 'd', phase: 'joining', epoch: 6})
    const claims = new Map([['b', {token: 'dir-b/i1', modRevision: 1n}], ['c', {token: 'dir-c/i1', modRevision: 1n}]])
    const d = decideMove(machineObservation(move, shard, {claims, done: new Set(['barrier@50'])}))
    expect(d).toMatchObject({kind: 'commit', transition: {phase: 'copying'}, patch: {copyDirs: {b: 'dir-b/i1', c: 'dir-c/i1'}}})
  })

  it('verification with the source down does not count a voter on another data dir since: it waits, naming it', async () => {
    const w = await world(['dir-b2/i2', 'dir-b/i1'], ['dir-c/i1', 'dir-c/i1'])
    await expect(w.verify()).rejects.toThrow(new RegExp(`${w.others[0]} serves another data dir than when the copy began`))
    expect(w.asked).toEqual([])
  })

  it('a plain restart on the same data dir still counts (it kept its copy)', async () => {
    const w = await world(['dir-b/i2', 'dir-b/i1'], ['dir-c/i1', 'dir-c/i1'])
    await w.verify()
    expect(new Set(w.asked)).toEqual(new Set([...w.others, w.to]))
  })

  it('a move recorded without copyDirs (an older build) is not judged', async () => {
    const w = await world(['dir-b2/i2', undefined], ['dir-c/i1', undefined])
    await w.verify()
    expect(new Set(w.asked)).toEqual(new Set([...w.others, w.to]))
  })

  it('a refill after cutover with the source down does not count a staying voter on another data dir than at the cutover (stayingDirs)', async () => {
    const w = await sourceDownWorld(3, 'cleanup', (initial, from, to) => ({...initial, epoch: initial.epoch + 3, replicas: [...initial.replicas.filter((r) => r.node !== from), {node: to, role: 'voter'}, {node: from, role: 'leaving'}]}), {
      alive: ({to, others}) => [to, ...others],
      routerW: [2],
    })
    const [b, c] = [w.others[0]!, w.others[1]!]
    await w.store.put(w.ctx.keys.claim(b), JSON.stringify({node: b, dataDirId: 'dir-b2', instance: 'i2'}))
    await w.store.put(w.ctx.keys.claim(c), JSON.stringify({node: c, dataDirId: 'dir-c', instance: 'i1'}))
    const move: Move = {...w.move, cutoverAt: new Date(0).toISOString(), stayingDirs: {[b]: 'dir-b/i1', [c]: 'dir-c/i1'}}
    await expect(w.effects.verify(move, w.shard, {refill: true})).rejects.toThrow(new RegExp(`${b} serves another data dir than at the cutover.*abandon-source`))
    expect(w.applied).toEqual([])
  })
})
