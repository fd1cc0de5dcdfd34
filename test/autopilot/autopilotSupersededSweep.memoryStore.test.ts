import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {getMove} from '../../src/executor/moveStore.js'
import {setNodeState} from '../../src/cluster/nodeService.js'
import {moveOf} from '../executor/fixtures.js'
import {cleanOneCheckDirs, drainingN3Cluster, runOneAutopilotCheck} from './oneAutopilotCheck.js'

/**
 * The autopilot finishes unfinished moves before it plans anything (a `resume` check), through
 * the same executor run as `apply --resume`: that run's sweep must record skipped another plan's
 * unstarted move that a later-recorded plan's move of its shard supersedes, before it runs any.
 * Here a human's apply of P (u n1 -> n2, s n1 -> n3) was killed right after recording its moves,
 * before recording Q's earlier move of s to n2 skipped. The real runAutopilot on a memory store.
 */
cleanOneCheckDirs()

describe('autopilot: a resume check after a human\'s apply was killed between recording its moves and skipping the ones they supersede', () => {
  it('Given Q\'s pending move of s n1 -> n2 and P\'s pending moves recorded after it, When the autopilot resumes, Then Q\'s move is skipped as superseded, and s and u end where P put them', async () => {
    const {clock, store, ctx} = await drainingN3Cluster('ap-sweep', 12)
    // P's move of s fills n3: since session 35 a move onto a draining node is skipped (src/model/closedDestination.ts), so n3 takes replicas here.
    await setNodeState(ctx, 'n3', 'active')
    const [s, u] = (await listShards(ctx)).shards.map((x) => x.value).filter((x) => x.replicas[0]!.node === 'n1')
    if (!s || !u) throw new Error('the cluster needs two shards on n1')
    const put = (m: ReturnType<typeof moveOf>) => store.put(ctx.keys.move(m.id), JSON.stringify(m))
    // Q's move first (index 0: a resume in plan-index order would run it before P's move of s).
    await put(moveOf({id: 'plan-q-0000', plan: 'plan-q', index: 0, shard: s.id, from: 'n1', to: 'n2', baseEpoch: s.epoch, epoch: s.epoch}))
    await put(moveOf({id: 'plan-p-0000', plan: 'plan-p', index: 0, shard: u.id, from: 'n1', to: 'n2', baseEpoch: u.epoch, epoch: u.epoch}))
    await put(moveOf({id: 'plan-p-0001', plan: 'plan-p', index: 1, shard: s.id, from: 'n1', to: 'n3', baseEpoch: s.epoch, epoch: s.epoch}))
    const events = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 60_000, limit: 4})
    expect(events.flatMap((e) => (e.type === 'outcome' ? [e.outcome] : []))[0]).toMatch(/^2 done/)
    expect((await getMove(ctx, 'plan-q-0000')).value).toMatchObject({phase: 'skipped', reason: expect.stringMatching(/^superseded by plan plan-p's move of shard \d+ \(n1 -> n3\)/)})
    const shards = (await listShards(ctx)).shards.map((x) => x.value)
    expect(shards.find((x) => x.id === u.id)!.replicas).toEqual([{node: 'n2', role: 'voter'}])
    expect(shards.find((x) => x.id === s.id)!.replicas).toEqual([{node: 'n3', role: 'voter'}])
  })
})
