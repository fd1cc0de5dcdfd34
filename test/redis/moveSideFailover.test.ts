import {describe, expect, it} from 'vitest'
import {shortNodeId} from '../../src/redis/clusterNodes.js'
import {bystanderDownText, downBystander, failoverHandOff, moveSideFailover, type MoveFailoverInput} from '../../src/redis/moveSideFailover.js'
import {type NodeView} from '../../src/redis/redisTrouble.js'
import {A, A2, addr, B, B2, C, C2, type Entry, view} from './fixtures/clusterNodesViews.js'

/**
 * moveSideFailover on CLUSTER NODES views of a 3 + 3 cluster as Redis 7.0 prints them while a
 * move of slots 100-115 from A to B stands at slot 104 (open): both sides live, the source or
 * the target killed and failed over to its replica, a source that rejoined as a replica, and
 * a side down with its failover not done.
 */

/** during: A has given B slots 100-103 and is migrating 104 to it. */
function during(): Record<string, Entry> {
  return {
    [A]: {flags: 'master', epoch: 1, slots: ['0-99', '104-5460', `[104->-${B}]`]},
    [B]: {flags: 'master', epoch: 8, slots: ['100-103', '5461-10922', `[104-<-${A}]`]},
    [C]: {flags: 'master', epoch: 3, slots: ['10923-16383']},
    [A2]: {flags: 'slave', master: A, epoch: 1},
    [B2]: {flags: 'slave', master: B, epoch: 8},
    [C2]: {flags: 'slave', master: C, epoch: 3},
  }
}

const side = (id: string) => ({node: shortNodeId(id), address: addr(id)})
const range = (a: number, b: number) => Array.from({length: b - a}, (_, i) => a + i)
const input = (views: NodeView[]): MoveFailoverInput => ({source: side(A), target: side(B), sourceSlots: range(104, 116), targetSlots: range(100, 104), views})

describe('moveSideFailover', () => {
  it('both sides live masters: not a failover (the trouble is something else)', () => {
    const h = during()
    expect(moveSideFailover(input([view(A, h), view(B, h), view(C, h)]))).toEqual({kind: 'live'})
  })

  it('the source killed and failed over: names A2, which took its slots, and the target as seed', () => {
    // A2 serves A's slots (epoch 9); B keeps A as owner of 104, which it imports from A.
    const after = (viewer: string): Record<string, Entry> => {
      const h = during()
      h[A] = {flags: 'master,fail', epoch: 1, slots: viewer === B ? ['104'] : []}
      h[A2] = {flags: 'master', epoch: 9, slots: viewer === B ? ['0-99', '105-5460'] : ['0-99', '104-5460']}
      return h
    }
    const v = moveSideFailover(input([view(A2, after(A2)), view(B, after(B)), view(C, after(C))]))
    expect(v).toEqual({kind: 'failed-over', side: 'source', node: shortNodeId(A), address: addr(A), successor: side(A2), seed: addr(B)})
    const reason = failoverHandOff(v as Extract<typeof v, {kind: 'failed-over'}>, 104)
    expect(reason).toBe(`source master ${shortNodeId(A)} at ${addr(A)} was failed over by Redis mid-move (${shortNodeId(A2)} at ${addr(A2)} took its place); the move stopped and changed nothing more: slot 104 may be left open; run \`shardctl redis fix --seed ${addr(B)} --yes\` (it finishes open slots towards the side holding their keys), then \`shardctl cluster init --engine redis --seed ${addr(B)} --force\` (the records name the failed master) and plan again`)
    expect(reason).not.toContain('\n')
  })

  it('the target killed and failed over: names B2, which serves the slots already moved, and the source as seed', () => {
    const after = (): Record<string, Entry> => {
      const h = during()
      h[B] = {flags: 'master,fail', epoch: 8, slots: []}
      h[B2] = {flags: 'master', epoch: 10, slots: ['100-103', '5461-10922']}
      return h
    }
    const v = moveSideFailover(input([view(A, after()), view(B2, after()), view(C, after())]))
    expect(v).toEqual({kind: 'failed-over', side: 'target', node: shortNodeId(B), address: addr(B), successor: side(B2), seed: addr(A)})
  })

  it('a source stopped past the node timeout that rejoined as a replica: failed over, its master now the successor', () => {
    const h = during()
    h[A] = {flags: 'slave', master: A2, epoch: 1}
    h[A2] = {flags: 'master', epoch: 9, slots: ['0-99', '104-5460']}
    const v = moveSideFailover(input([view(A, h), view(A2, h), view(B, h), view(C, h)]))
    expect(v).toMatchObject({kind: 'failed-over', side: 'source', successor: side(A2), seed: addr(B)})
  })

  it('a side down whose replica may still be elected, or flagged with its slots still its own, is down, not failed over', () => {
    const electing = during()
    electing[B] = {...electing[B]!, flags: 'master,fail'}
    expect(moveSideFailover(input([view(A, electing), view(C, electing)]))).toEqual({kind: 'down', side: 'target', node: shortNodeId(B)})
    const noReplica = during()
    noReplica[A] = {...noReplica[A]!, flags: 'master,fail?'}
    delete noReplica[A2]
    expect(moveSideFailover(input([view(B, noReplica), view(C, noReplica)]))).toEqual({kind: 'down', side: 'source', node: shortNodeId(A)})
    // Nothing answered at all: down.
    expect(moveSideFailover(input([]))).toEqual({kind: 'down', side: 'source', node: shortNodeId(A)})
  })
})

/**
 * downBystander on the same 3 + 3 cluster: the move A -> B stands while C, a master it does
 * not name, is down (stopped, with its replica still to be elected or with no replica), or was
 * failed over by Redis and stays down, or was failed over and rejoined as a replica.
 */
describe('downBystander', () => {
  const masters = [side(A), side(B), side(C)]
  const bystanderInput = (views: NodeView[]) => ({source: side(A), target: side(B), others: masters, views})

  it('every recorded master answers: none is down (the trouble is something else)', () => {
    const h = during()
    expect(downBystander(bystanderInput([view(A, h), view(B, h), view(C, h)]))).toBeUndefined()
  })

  it('C stopped, not failed over yet: names C, not failed over, a live side as seed; the line says to restart it and resume', () => {
    const h = during()
    h[C] = {...h[C]!, flags: 'master,fail'}
    const b = downBystander(bystanderInput([view(A, h), view(B, h)]))
    expect(b).toEqual({node: shortNodeId(C), address: addr(C), failedOver: false, seed: addr(A)})
    const line = bystanderDownText(b!)
    expect(line).toBe(`master ${shortNodeId(C)} at ${addr(C)} (not a side of this move) does not answer: a redis move drives every recorded master, so none runs while it is down; restart it, then \`shardctl apply --resume\` runs the move from where it stopped`)
    expect(line).not.toContain('\n')
  })

  it('C failed over to C2 and still down: names C as failed over, and the ways out (restart it, or redis fix and cluster init through a live master)', () => {
    const h = during()
    h[C] = {flags: 'master,fail', epoch: 3, slots: []}
    h[C2] = {flags: 'master', epoch: 11, slots: ['10923-16383']}
    const b = downBystander(bystanderInput([view(A, h), view(B, h), view(C2, h)]))
    expect(b).toEqual({node: shortNodeId(C), address: addr(C), failedOver: true, seed: addr(A)})
    expect(bystanderDownText(b!)).toBe(`master ${shortNodeId(C)} at ${addr(C)} (not a side of this move) does not answer, and Redis failed it over: a redis move drives every recorded master, so none runs while it is down; restart it (it rejoins as a replica), then \`shardctl apply --resume\`; or, if it is gone for good, run \`shardctl redis fix --seed ${addr(A)} --yes\`, then \`shardctl cluster init --engine redis --seed ${addr(A)} --force\` (the records name it) and plan again`)
  })

  it('C failed over and back as a replica of C2: it answers, so it is not down (the move runs)', () => {
    const h = during()
    h[C] = {flags: 'slave', master: C2, epoch: 3}
    h[C2] = {flags: 'master', epoch: 11, slots: ['10923-16383']}
    expect(downBystander(bystanderInput([view(A, h), view(B, h), view(C, h), view(C2, h)]))).toBeUndefined()
  })

  it('a side down is not a bystander (moveSideFailover speaks for it); with the source down too, the seed is the live target', () => {
    const h = during()
    h[A] = {...h[A]!, flags: 'master,fail'}
    expect(downBystander(bystanderInput([view(B, h), view(C, h)]))).toBeUndefined()
    h[C] = {...h[C]!, flags: 'master,fail'}
    expect(downBystander(bystanderInput([view(B, h)]))).toMatchObject({node: shortNodeId(C), seed: addr(B)})
  })
})
