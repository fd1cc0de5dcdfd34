import {describe, expect, it} from 'vitest'
import {listShards} from '../../src/cluster/clusterRepo.js'
import {acknowledgeWarnings, listMoves} from '../../src/executor/moveStore.js'
import {moveOf} from '../executor/fixtures.js'
import {cleanOneCheckDirs, drainingN3Cluster, runOneAutopilotCheck} from './oneAutopilotCheck.js'

/**
 * A move ended `done` carrying a warning that a master it used (n3) restarted without
 * persistence and may have lost keys (src/redis/moveSideRestart.ts). Until an operator checks
 * the keys and runs `moves ack`, the autopilot plans no move onto or off that master: here n3
 * is draining, so it would heal it at once. The real runAutopilot on a memory store with fake
 * node effects.
 */
cleanOneCheckDirs()

describe('autopilot: a master named by a data-loss warning', () => {
  it('Given an unacknowledged warning naming the draining n3, When the autopilot checks, Then it does not drain n3 and says why; once acknowledged it heals', async () => {
    const {clock, ctx} = await drainingN3Cluster('ap-loss')
    const shard = (await listShards(ctx)).shards.map((s) => s.value).find((s) => s.replicas[0]!.node === 'n3')!
    const warning = {key: 'restart:n3:run2', at: 't', text: 'move m7: n3 (its target, 127.0.0.1:7103) restarted while the move ran ... without appendonly', mayHaveLostData: true, node: 'n3'}
    await ctx.store.put(ctx.keys.move('m7'), JSON.stringify(moveOf({id: 'm7', plan: 'earlier', shard: shard.id, from: 'n1', to: 'n3', baseEpoch: shard.epoch, epoch: shard.epoch, phase: 'done', warnings: [warning]})))
    const held = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 60_000, limit: 4})
    const decisions = held.flatMap((e) => (e.type === 'decision' ? [e] : []))
    expect(decisions.map((d) => d.kind)).not.toContain('heal')
    expect(decisions[0]!.reason).toMatch(/no move onto or off n3 \(move m7\): a warning says it restarted without persistence and may have lost keys; check them, then `shardctl moves ack m7`/)
    expect((await listMoves(ctx)).map((m) => m.value.id)).toEqual(['m7'])
    await acknowledgeWarnings(ctx, 'm7')
    const healed = await runOneAutopilotCheck(ctx, clock, {coolDownMs: 60_000, limit: 4})
    expect(healed.flatMap((e) => (e.type === 'decision' ? [e.kind] : []))).toContain('heal')
  })
})
