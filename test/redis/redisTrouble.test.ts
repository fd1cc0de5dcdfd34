import {describe, expect, it} from 'vitest'
import {shortNodeId} from '../../src/redis/clusterNodes.js'
import {type NodeView, redisTrouble, type RedisTroubleInput} from '../../src/redis/redisTrouble.js'
import {redisTroubleLines} from '../../src/redis/redisTroubleText.js'
import {A, A2, addr, B, B2, C, C2, type Entry, view} from './fixtures/clusterNodesViews.js'

/**
 * redisTrouble on parsed CLUSTER NODES views of a 3 + 3 cluster, as Redis 7.0 prints them
 * after the events `cluster status` must explain: a slot left open, a source or a target
 * failed (over or not), a master suspected down, a master that came back as a replica, two
 * masters claiming a slot, and records etcd keeps of a layout Redis no longer serves.
 */

const short = shortNodeId

function healthy(): Record<string, Entry> {
  return {
    [A]: {flags: 'master', epoch: 1, slots: ['0-5460']},
    [B]: {flags: 'master', epoch: 2, slots: ['5461-10922']},
    [C]: {flags: 'master', epoch: 3, slots: ['10923-16383']},
    [A2]: {flags: 'slave', master: A, epoch: 1},
    [B2]: {flags: 'slave', master: B, epoch: 2},
    [C2]: {flags: 'slave', master: C, epoch: 3},
  }
}

const recordedNodes = [A, B, C].map((id) => ({id: short(id), address: addr(id)}))
/** recordedShards: 128-slot shards of the healthy layout, as `cluster init --engine redis` records them. */
const recordedShards = (() => {
  const out: {id: number; first: number; end: number; owner: string}[] = []
  for (const [owner, from, to] of [[A, 0, 5461], [B, 5461, 10923], [C, 10923, 16384]] as const) for (let s = from; s < to; s += 128) out.push({id: out.length, first: s, end: Math.min(to, s + 128), owner: short(owner)})
  return out
})()

function input(views: NodeView[], extra: Partial<RedisTroubleInput> = {}): RedisTroubleInput {
  return {views, recordedNodes, recordedShards, movingShards: new Set(), executorRunning: false, seed: addr(A), ...extra}
}

/** openSlot100 is A MIGRATING slots 100-102 to B, B IMPORTING them from A (what redis-cli or a killed executor leaves). */
function openSlot100(): Record<string, Record<string, Entry>> {
  const a = healthy()
  a[A]!.slots = ['0-5460', '[100->-' + B + ']', '[101->-' + B + ']', '[102->-' + B + ']']
  const b = healthy()
  b[B]!.slots = ['5461-10922', '[100-<-' + A + ']', '[101-<-' + A + ']', '[102-<-' + A + ']']
  return {[A]: a, [B]: b, [C]: healthy()}
}

describe('redisTrouble', () => {
  it('reports nothing on a healthy cluster that agrees with its records', () => {
    const h = healthy()
    const t = redisTrouble(input([view(A, h), view(B, h), view(C, h), view(A2, h)]))
    expect(t).toEqual({seed: addr(A), mastersAnswering: 3, openSlots: [], failedMasters: [], unservedSlots: [], contestedSlots: [], recordMismatches: [], unreplicatedMasters: [], dataLossWarnings: [], checkWarnings: [], trouble: false})
    expect(redisTroubleLines(t)).toEqual([])
  })

  it('Given a healthy cluster and a move that ended `done` warned of possible data loss, Then it is trouble until acknowledged, listed with the warning and `moves ack` as the way out', () => {
    const h = healthy()
    const warned = {move: 'm7', shard: 3, phase: 'done', node: short(B), at: '2026-12-05T06:00:00.000Z', text: `move m7: ${short(B)} (its target, ${addr(B)}) restarted while the move ran (run_id 1 -> 2) without appendonly: ... the keys of slots 384-511 it held ... are lost`}
    const t = redisTrouble(input([view(A, h), view(B, h), view(C, h)], {lossWarnings: [warned]}))
    expect(t.trouble).toBe(true)
    expect(t.dataLossWarnings).toEqual([{...warned, wayOut: 'check the keys it names against your source of truth, then `shardctl moves ack m7`'}])
    expect(redisTroubleLines(t)).toEqual([`Redis cluster trouble (ways out name ${addr(A)}, a live master):`, `  ${warned.text} (warned ${warned.at}; move now done). Way out: check the keys it names against your source of truth, then \`shardctl moves ack m7\``])
  })

  it('Given a healthy cluster and a move whose slot is held (not a loss) waiting for a check, Then it is trouble until acknowledged, listed in --json and text as not a loss with `moves ack` as the way out', () => {
    // `top`'s TROUBLE panel listed held/unchecked warnings; `cluster status` listed losses only (session 41).
    const h = healthy()
    const held = {move: 'm8', shard: 4, phase: 'copying', node: short(A), at: '2026-12-05T07:00:00.000Z', text: `move m8: slot 200 is held open: 3 keys are on both ${short(A)} and ${short(B)}`}
    const t = redisTrouble(input([view(A, h), view(B, h), view(C, h)], {checkWarnings: [held]}))
    expect(t.trouble).toBe(true)
    expect(t.dataLossWarnings).toEqual([])
    expect(t.checkWarnings).toEqual([{...held, wayOut: 'not a loss: check what it names (its text says what acknowledging does), then `shardctl moves ack m8`'}])
    expect(JSON.parse(JSON.stringify(t)).checkWarnings).toEqual([{...held, wayOut: expect.stringMatching(/^not a loss: .*`shardctl moves ack m8`$/)}])
    expect(redisTroubleLines(t)).toEqual([`Redis cluster trouble (ways out name ${addr(A)}, a live master):`, `  not a loss, waiting for a check: ${held.text} (warned ${held.at}; move now copying). Way out: not a loss: check what it names (its text says what acknowledging does), then \`shardctl moves ack m8\``])
  })

  it('reports slots left open between two live masters, grouped, with `redis fix` as the way out', () => {
    const v = openSlot100()
    const t = redisTrouble(input([view(A, v[A]!), view(B, v[B]!), view(C, v[C]!)]))
    expect(t.openSlots).toEqual([{slots: {from: 100, to: 102}, source: short(A), target: short(B), sourceState: 'live', targetState: 'live', inFlight: false, wayOut: expect.stringContaining(`shardctl redis fix --seed ${addr(A)} --yes`)}])
    expect(t.trouble).toBe(true)
    expect(redisTroubleLines(t)).toEqual([`Redis cluster trouble (ways out name ${addr(A)}, a live master):`, expect.stringMatching(new RegExp(`^  slots 100-102 \\(3\\) left open ${short(A)} -> ${short(B)}\\. Way out: \`shardctl redis fix --seed ${addr(A)} --yes\``))])
  })

  it('names `apply --resume` for an open slot of a shard whose move did not finish', () => {
    const v = openSlot100()
    const t = redisTrouble(input([view(A, v[A]!), view(B, v[B]!), view(C, v[C]!)], {movingShards: new Set([0])}))
    expect(t.openSlots[0]?.wayOut).toContain('`shardctl apply --resume`')
    expect(t.trouble).toBe(true)
  })

  it('takes slots open between live masters while the executor runs as its own work: listed, not trouble', () => {
    const v = openSlot100()
    const t = redisTrouble(input([view(A, v[A]!), view(B, v[B]!), view(C, v[C]!)], {executorRunning: true, movingShards: new Set([0])}))
    expect(t.openSlots).toEqual([expect.objectContaining({slots: {from: 100, to: 102}, inFlight: true})])
    expect(t.trouble).toBe(false)
    expect(redisTroubleLines(t)).toEqual([])
  })

  it('after the source failed over: the open slot, the failed master taken over by its replica, the records to redo, nothing unserved', () => {
    // A was killed with slots 100-102 open towards B; A2 took over A's slots (epoch 7). B's view keeps A as the owner of the slots it imports from it.
    const after = (viewer: string): Record<string, Entry> => {
      const h = healthy()
      h[A] = {flags: 'master,fail', epoch: 1, slots: viewer === B ? ['100-102'] : []}
      h[A2] = {flags: 'master', epoch: 7, slots: viewer === B ? ['0-99', '103-5460'] : ['0-5460']}
      if (viewer === B) h[B]!.slots = ['5461-10922', `[100-<-${A}]`, `[101-<-${A}]`, `[102-<-${A}]`]
      return h
    }
    const t = redisTrouble(input([view(A2, after(A2)), view(B, after(B)), view(C, after(C))]))
    // The recorded seed (A) is dead: the ways out name a live master instead.
    const seed = addr(B)
    expect(t.seed).toBe(seed)
    expect(t.openSlots).toEqual([{slots: {from: 100, to: 102}, source: short(A), target: short(B), sourceState: 'fail', targetState: 'live', inFlight: false, wayOut: `\`shardctl redis fix --seed ${seed} --yes\` (it finishes the slot towards the side holding the migrated keys), then \`shardctl cluster init --engine redis --seed ${seed} --force\``}])
    expect(t.failedMasters).toEqual([{node: short(A), address: addr(A), state: 'fail', seenFailedBy: 3, masters: 3, slots: 0, takenBy: [short(A2)], recorded: true, settled: false, wayOut: expect.stringContaining(`\`shardctl cluster init --engine redis --seed ${seed} --force\``)}])
    expect(t.unservedSlots).toEqual([])
    expect(t.contestedSlots).toEqual([])
    expect(t.recordMismatches).toEqual([{recordedOn: short(A), servedBy: [short(A2)], shards: recordedShards.filter((s) => s.owner === short(A)).map((s) => s.id), slots: 5461, inFlight: false, wayOut: expect.stringContaining('--force')}])
    expect(t.trouble).toBe(true)
    const lines = redisTroubleLines(t)
    expect(lines[1]).toContain(`slots 100-102 (3) left open ${short(A)} -> ${short(B)} (source ${short(A)} failed (fail))`)
    expect(lines[2]).toContain(`master ${short(A)} at ${addr(A)} is failed (fail), flagged by 3 of 3 masters, 0 slots still its own, its recorded slots now on ${short(A2)}`)
    expect(lines[3]).toContain(`etcd records 43 shard(s) (5461 slots, first shard 0) on ${short(A)}, but those slots are served by ${short(A2)}`)
    // The replica that took over is alone now: its old master, its only replica, is the one down.
    expect(t.unreplicatedMasters).toEqual([expect.objectContaining({node: short(A2), address: addr(A2), slots: 5461, failedReplicas: []})])
    expect(lines[4]).toContain(`master ${short(A2)} at ${addr(A2)} serves 5461 slots with no live replica. Way out: restart the master it took over from (failed: ${short(A)} at ${addr(A)})`)
    expect(lines).toHaveLength(5)
  })

  it('a target down with no replica to take over: bring it back (fix would refuse), and its slots are unserved', () => {
    const v = openSlot100()
    const down = (h: Record<string, Entry>): Record<string, Entry> => {
      const out = {...h, [B]: {...h[B]!, flags: 'master,fail'}}
      delete out[B2]
      return out
    }
    const t = redisTrouble(input([view(A, down(v[A]!)), view(C, down(v[C]!))]))
    expect(t.openSlots).toEqual([expect.objectContaining({source: short(A), target: short(B), sourceState: 'live', targetState: 'fail', wayOut: expect.stringMatching(new RegExp(`^bring ${short(B)} back, or wait for Redis to fail it over`))})])
    expect(t.failedMasters).toEqual([expect.objectContaining({node: short(B), state: 'fail', slots: 5462, takenBy: [], wayOut: expect.stringContaining(`restart redis-server at ${addr(B)}`)})])
    expect(t.unservedSlots).toEqual([{slots: {from: 5461, to: 10922}, lastOwner: short(B), wayOut: expect.stringContaining(`bring ${short(B)} back`)}])
    expect(t.recordMismatches).toEqual([expect.objectContaining({recordedOn: short(B), servedBy: [], slots: 5462, wayOut: expect.stringMatching(/^no live master serves them/)})])
    expect(redisTroubleLines(t)).toContainEqual(expect.stringContaining(`slots 5461-10922 (5462) served by no live master (still given to ${short(B)})`))
  })

  it('a master only some masters suspect (fail?) is reported with how many', () => {
    const h = healthy()
    const suspect = {...h, [C]: {...h[C]!, flags: 'master,fail?'}}
    const t = redisTrouble(input([view(A, suspect), view(B, h)]))
    expect(t.failedMasters).toEqual([expect.objectContaining({node: short(C), state: 'fail?', seenFailedBy: 1, masters: 2, slots: 5461, wayOut: expect.stringContaining('suspected down by 1 of 2 masters')})])
    expect(t.unservedSlots).toEqual([expect.objectContaining({slots: {from: 10923, to: 16383}, lastOwner: short(C)})])
  })

  it('a failed-over master that came back as a replica of its successor', () => {
    const h = healthy()
    h[A] = {flags: 'slave', master: A2, epoch: 1}
    h[A2] = {flags: 'master', epoch: 7, slots: ['0-5460']}
    const t = redisTrouble(input([view(A, h), view(A2, h), view(B, h), view(C, h)]))
    expect(t.failedMasters).toEqual([expect.objectContaining({node: short(A), state: 'replica', slots: 0, takenBy: [short(A2)], wayOut: expect.stringContaining('--force')})])
    expect(t.openSlots).toEqual([])
    expect(t.unservedSlots).toEqual([])
    expect(t.recordMismatches).toEqual([expect.objectContaining({recordedOn: short(A), servedBy: [short(A2)], slots: 5461})])
  })

  it('a master that no longer answers and is not flagged yet, and a recorded master no live one lists', () => {
    const h = healthy()
    const t = redisTrouble(input([view(A, h), view(B, h)], {recordedNodes: [...recordedNodes, {id: '0123456789ab', address: '127.0.0.1:7999'}]}))
    expect(t.failedMasters).toEqual([
      expect.objectContaining({node: '0123456789ab', state: 'unknown', wayOut: expect.stringContaining('--force')}),
      expect.objectContaining({node: short(C), state: 'unreachable', slots: 5461, wayOut: expect.stringContaining('no live master flags it yet')}),
    ])
  })

  it('slots two live masters serve at once (a failed-over master that resumed) are contested', () => {
    const h = healthy()
    const stale = {...h, [A]: {...h[A]!, slots: ['0-5460']}, [A2]: {flags: 'master', epoch: 7, slots: ['0-5460']}}
    const t = redisTrouble(input([view(A, stale), view(A2, stale), view(B, h), view(C, h)]))
    expect(t.contestedSlots).toEqual([{slots: {from: 0, to: 5460}, owners: [short(A), short(A2)], wayOut: expect.stringContaining('wait a few seconds')}])
    expect(t.trouble).toBe(true)
  })

  it('a record the running executor is changing is not trouble; one no executor will finish names `apply --resume`', () => {
    const h = healthy()
    const moved = {...h, [A]: {...h[A]!, slots: ['128-5460']}, [B]: {...h[B]!, slots: ['0-127', '5461-10922']}}
    const views = [view(A, moved), view(B, moved), view(C, moved)]
    const running = redisTrouble(input(views, {movingShards: new Set([0]), executorRunning: true}))
    expect(running.recordMismatches).toEqual([expect.objectContaining({recordedOn: short(A), servedBy: [short(B)], shards: [0], slots: 128, inFlight: true})])
    expect(running.trouble).toBe(false)
    const stalled = redisTrouble(input(views, {movingShards: new Set([0])}))
    expect(stalled.recordMismatches).toEqual([expect.objectContaining({inFlight: false, wayOut: expect.stringContaining('`shardctl apply --resume`')})])
    expect(stalled.trouble).toBe(true)
    const outside = redisTrouble(input(views))
    expect(outside.recordMismatches[0]?.wayOut).toContain('changed outside shardctl')
  })

  it('a failed master etcd no longer records and that serves no slot is settled: listed, not trouble', () => {
    const h = healthy()
    h[A] = {flags: 'master,fail', epoch: 1}
    h[A2] = {flags: 'master', epoch: 7, slots: ['0-5460']}
    const rerecorded = [A2, B, C].map((id) => ({id: short(id), address: addr(id)}))
    const shards = recordedShards.map((sh) => (sh.owner === short(A) ? {...sh, owner: short(A2)} : sh))
    const t = redisTrouble(input([view(A2, h), view(B, h), view(C, h)], {recordedNodes: rerecorded, recordedShards: shards}))
    expect(t.failedMasters).toEqual([expect.objectContaining({node: short(A), state: 'fail', slots: 0, recorded: false, settled: true, wayOut: expect.stringContaining(`redis-cli --cluster del-node ${addr(B)} ${A}`)})])
    expect(t.failedMasters.every((f) => f.settled)).toBe(true)
    // Settled, except that A2 is alone (see the next test); once A rejoins as its replica, nothing is left.
    h[A] = {flags: 'slave', master: A2, epoch: 1}
    const back = redisTrouble(input([view(A, h), view(A2, h), view(B, h), view(C, h)], {recordedNodes: rerecorded, recordedShards: shards}))
    expect(back.failedMasters).toEqual([])
    expect(back.unreplicatedMasters).toEqual([])
    expect(back.trouble).toBe(false)
    expect(redisTroubleLines(back)).toEqual([])
  })

  it('a master left without a replica after a failover is trouble, with the way to give it one; a cluster built without replicas is not', () => {
    // A was failed over to A2, the ways out followed (fix, init --force): A is settled, but A2 has no replica left.
    const h = healthy()
    h[A] = {flags: 'master,fail', epoch: 1}
    h[A2] = {flags: 'master', epoch: 7, slots: ['0-5460']}
    const rerecorded = [A2, B, C].map((id) => ({id: short(id), address: addr(id)}))
    const shards = recordedShards.map((sh) => (sh.owner === short(A) ? {...sh, owner: short(A2)} : sh))
    const t = redisTrouble(input([view(A2, h), view(B, h), view(C, h)], {recordedNodes: rerecorded, recordedShards: shards}))
    expect(t.unreplicatedMasters).toEqual([{node: short(A2), address: addr(A2), slots: 5461, failedReplicas: [], wayOut: expect.stringContaining(`redis-cli --cluster add-node NEW_HOST:PORT ${addr(A2)} --cluster-slave --cluster-master-id ${A2}`)}])
    expect(t.unreplicatedMasters[0]!.wayOut).toMatch(new RegExp(`^restart the master it took over from \\(failed: ${short(A)} at ${addr(A)}\\)`))
    expect(t.trouble).toBe(true)
    expect(redisTroubleLines(t)).toContainEqual(expect.stringContaining(`master ${short(A2)} at ${addr(A2)} serves 5461 slots with no live replica. Way out:`))

    // A replica flagged failed while its master lives: the same trouble, naming the replica.
    const g = healthy()
    g[B2] = {...g[B2]!, flags: 'slave,fail'}
    const lost = redisTrouble(input([view(A, g), view(B, g), view(C, g)]))
    expect(lost.unreplicatedMasters).toEqual([expect.objectContaining({node: short(B), slots: 5462, failedReplicas: [short(B2)], wayOut: expect.stringMatching(new RegExp(`^restart its failed replica \\(${short(B2)}\\), or add one`))})])
    expect(lost.trouble).toBe(true)

    // Three masters and no replica anywhere, none failed: the operator's choice, not trouble.
    const bare = healthy()
    for (const id of [A2, B2, C2]) delete bare[id]
    const none = redisTrouble(input([view(A, bare), view(B, bare), view(C, bare)]))
    expect(none.unreplicatedMasters).toEqual([])
    expect(none.trouble).toBe(false)
  })

  it('no master answering is trouble, and no slot is reported unserved for want of a view', () => {
    const t = redisTrouble(input([]))
    expect(t).toMatchObject({seed: null, mastersAnswering: 0, unservedSlots: [], recordMismatches: [], trouble: true})
    expect(t.failedMasters.map((f) => f.state)).toEqual(['unknown', 'unknown', 'unknown'])
    expect(redisTroubleLines(t)[1]).toContain('no master of the Redis cluster answered')
  })
})
