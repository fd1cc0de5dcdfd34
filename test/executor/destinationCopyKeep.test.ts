import {describe, expect, it} from 'vitest'
import {destinationCopyKeep} from '../../src/executor/destinationCopyKeep.js'

/**
 * destinationCopyKeep (pure): may a destination that left the shard drop its copy? Only with the
 * source up, or with it down when the write floor makes the voters up hold every acknowledged write
 * (the rule of a copy from a down source, chooseCopySources).
 */
const move = {id: 'm1', shard: 0, from: 'n1', to: 'n4'}
const keep = (voters: string[], alive: string[], writeQuorums: (number | null | undefined)[] | undefined) => destinationCopyKeep({move, voters, alive: new Set(alive), writeQuorums})

describe('destinationCopyKeep', () => {
  it('drops with the source up, whatever the floor', () => {
    expect(keep(['n1', 'n2', 'n3'], ['n1', 'n4'], [1])).toBeUndefined()
    expect(keep(['n1'], ['n1', 'n4'], undefined)).toBeUndefined()
  })

  it('keeps at rf 1 with the source down (no read voter up)', () => {
    expect(keep(['n1'], ['n4'], [null])).toContain("n4's copy of shard 0 is kept")
  })

  it('keeps at rf 3 with the source down after a --w 1 router, or with the quorums unknown (not read, or no floor), though the other voters are up', () => {
    expect(keep(['n1', 'n2', 'n3'], ['n2', 'n3', 'n4'], [null, 1])).toContain('w = 1')
    expect(keep(['n1', 'n2', 'n3'], ['n2', 'n3', 'n4'], undefined)).toContain('w = 1')
    expect(keep(['n1', 'n2', 'n3'], ['n2', 'n3', 'n4'], [undefined])).toContain('w = 1')
  })

  it('drops at rf 3 with the source down when every router ran with w >= 2 and the other voters are up', () => {
    expect(keep(['n1', 'n2', 'n3'], ['n2', 'n3', 'n4'], [null])).toBeUndefined()
    expect(keep(['n1', 'n2', 'n3'], ['n2', 'n3', 'n4'], [2, null])).toBeUndefined()
  })

  it('keeps at rf 3 with w = 2 when the source and another voter are down: a write they two acknowledged may be on the destination alone of the nodes up', () => {
    const why = keep(['n1', 'n2', 'n3'], ['n3', 'n4'], [null])
    expect(why).toContain('with w = 2')
    expect(why).toContain('down with n2')
  })

  it('counts a source up on a replaced data dir as down: kept at w = 1 (or quorums unknown), dropped when the floor makes the other voters up enough', () => {
    const replaced = (voters: string[], alive: string[], writeQuorums: (number | null | undefined)[] | undefined) =>
      destinationCopyKeep({move, voters, alive: new Set(alive), writeQuorums, sourceDirReplaced: true})
    const why = replaced(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3', 'n4'], [1])
    expect(why).toContain("n4's copy of shard 0 is kept")
    expect(why).toContain('serves another data dir')
    expect(why).toContain('n1 is back on the data dir its copy was compared under')
    expect(replaced(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3', 'n4'], undefined)).toContain('w = 1')
    expect(replaced(['n1'], ['n1', 'n4'], [null])).toContain("n4's copy of shard 0 is kept")
    expect(replaced(['n1', 'n2', 'n3'], ['n1', 'n2', 'n3', 'n4'], [null])).toBeUndefined()
  })
})
