import {describe, expect, it} from 'vitest'
import {pickStartable} from '../../src/executor/scheduler.js'
import {moveOf} from './fixtures.js'

describe('pickStartable', () => {
  const moves = [
    moveOf({id: 'm0', index: 0, shard: 1, from: 'a', to: 'd'}),
    moveOf({id: 'm1', index: 1, shard: 2, from: 'a', to: 'e'}),
    moveOf({id: 'm2', index: 2, shard: 3, from: 'b', to: 'f'}),
    moveOf({id: 'm3', index: 3, shard: 1, from: 'b', to: 'g'}),
    moveOf({id: 'm4', index: 4, shard: 4, from: 'c', to: 'h'}),
  ]

  it('respects the per-node limit and plan order', () => {
    expect(pickStartable(moves, new Set(), {maxConcurrent: 10, perNode: 1}).map((m) => m.id)).toEqual(['m0', 'm2', 'm4'])
  })

  it('respects the overall limit, counting running moves', () => {
    expect(pickStartable(moves, new Set(['m0']), {maxConcurrent: 2, perNode: 5}).map((m) => m.id)).toEqual(['m1'])
  })

  it('never runs two actions of one shard at once, nor overtakes an earlier action on it', () => {
    const picked = pickStartable(moves, new Set(), {maxConcurrent: 10, perNode: 10}).map((m) => m.id)
    expect(picked).toContain('m0')
    expect(picked).not.toContain('m3')
    const done = moves.map((m) => (m.id === 'm0' ? {...m, phase: 'done' as const} : m))
    expect(pickStartable(done, new Set(['m1', 'm2', 'm4']), {maxConcurrent: 10, perNode: 10}).map((m) => m.id)).toEqual(['m3'])
  })
})

describe('pickStartable incoming limit', () => {
  // Filling a new node n: every move goes into it, each from a different source.
  const fill = Array.from({length: 6}, (_, i) => moveOf({id: `f${i}`, index: i, shard: 10 + i, from: `s${i}`, to: 'n'}))

  it('starts two moves into one node by default, not one and not all', () => {
    expect(pickStartable(fill, new Set(), {maxConcurrent: 10, perNode: 1}).map((m) => m.id)).toEqual(['f0', 'f1'])
  })

  it('counts running moves into the node against the incoming limit', () => {
    expect(pickStartable(fill, new Set(['f0']), {maxConcurrent: 10, perNode: 1}).map((m) => m.id)).toEqual(['f1'])
    expect(pickStartable(fill, new Set(['f0', 'f1']), {maxConcurrent: 10, perNode: 1})).toEqual([])
  })

  it('takes an explicit incoming limit, and the overall limit still caps it', () => {
    expect(pickStartable(fill, new Set(), {maxConcurrent: 10, perNode: 1, incomingPerNode: 4}).map((m) => m.id)).toEqual(['f0', 'f1', 'f2', 'f3'])
    expect(pickStartable(fill, new Set(), {maxConcurrent: 3, perNode: 1, incomingPerNode: 5}).map((m) => m.id)).toEqual(['f0', 'f1', 'f2'])
  })

  it('limits a source separately from a destination: one node may send one move and receive another', () => {
    const mixed = [moveOf({id: 'x0', index: 0, shard: 1, from: 'a', to: 'b'}), moveOf({id: 'x1', index: 1, shard: 2, from: 'c', to: 'a'}), moveOf({id: 'x2', index: 2, shard: 3, from: 'a', to: 'd'})]
    expect(pickStartable(mixed, new Set(), {maxConcurrent: 10, perNode: 1}).map((m) => m.id)).toEqual(['x0', 'x1'])
  })
})

describe('pickStartable one side per node (the redis engine)', () => {
  // A chain a -> b -> c -> d plus an unrelated e -> f: b and c are each on both sides of two moves.
  const chain = [
    moveOf({id: 'ab', index: 0, shard: 1, from: 'a', to: 'b'}),
    moveOf({id: 'bc', index: 1, shard: 2, from: 'b', to: 'c'}),
    moveOf({id: 'cd', index: 2, shard: 3, from: 'c', to: 'd'}),
    moveOf({id: 'ef', index: 3, shard: 4, from: 'e', to: 'f'}),
  ]
  const loose = {maxConcurrent: 10, perNode: 10, incomingPerNode: 10}
  const oneSide = {...loose, oneSidePerNode: true}

  it('without the rule, runs a master as the target of one move and the source of another at once', () => {
    expect(pickStartable(chain, new Set(), loose).map((m) => m.id)).toEqual(['ab', 'bc', 'cd', 'ef'])
  })

  it('never starts a move whose source is a target, or whose target is a source, of a move picked or running', () => {
    expect(pickStartable(chain, new Set(), oneSide).map((m) => m.id)).toEqual(['ab', 'cd', 'ef'])
    expect(pickStartable(chain, new Set(['bc']), oneSide).map((m) => m.id)).toEqual(['ef'])
    const abDone = chain.map((m) => (m.id === 'ab' || m.id === 'cd' ? {...m, phase: 'done' as const} : m))
    expect(pickStartable(abDone, new Set(['ef']), oneSide).map((m) => m.id)).toEqual(['bc'])
  })

  it('still runs moves sharing only a source (a drain) or only a target (filling a node) together', () => {
    const drain = [moveOf({id: 'x1', index: 0, shard: 1, from: 'x', to: 'y'}), moveOf({id: 'x2', index: 1, shard: 2, from: 'x', to: 'z'})]
    expect(pickStartable(drain, new Set(), oneSide).map((m) => m.id)).toEqual(['x1', 'x2'])
    const fill = [moveOf({id: 'n1', index: 0, shard: 1, from: 'y', to: 'n'}), moveOf({id: 'n2', index: 1, shard: 2, from: 'z', to: 'n'})]
    expect(pickStartable(fill, new Set(['n1']), oneSide).map((m) => m.id)).toEqual(['n2'])
  })

  it('holds for any plan: no node is a source and a target among the moves picked or running', () => {
    const nodes = ['a', 'b', 'c', 'd', 'e']
    let seed = 17
    const rand = (n: number) => ((seed = (seed * 48271) % 2147483647), seed % n)
    let picks = 0
    for (let round = 0; round < 300; round++) {
      const moves = Array.from({length: 8}, (_, i) => {
        const from = nodes[rand(nodes.length)] ?? 'a'
        const others = nodes.filter((n) => n !== from)
        return moveOf({id: `r${i}`, index: i, shard: rand(6), from, to: others[rand(others.length)] ?? 'b'})
      })
      // Running moves obeyed the rule themselves: drop any that clash with one kept before.
      const running = new Set<string>()
      const [src, dst] = [new Set<string>(), new Set<string>()]
      for (const m of moves) {
        if (rand(4) !== 0 || dst.has(m.from) || src.has(m.to)) continue
        running.add(m.id)
        src.add(m.from)
        dst.add(m.to)
      }
      const picked = pickStartable(moves, running, oneSide)
      picks += picked.length
      const active = [...moves.filter((m) => running.has(m.id)), ...picked]
      const targets = new Set(active.map((m) => m.to))
      expect(active.filter((m) => targets.has(m.from))).toEqual([])
    }
    // The rule must not simply refuse everything.
    expect(picks).toBeGreaterThan(300)
  })
})

describe('pickStartable copy slots', () => {
  const queue = Array.from({length: 6}, (_, i) => moveOf({id: `q${i}`, index: i, shard: 20 + i, from: `s${i}`, to: `t${i}`}))

  it('starts no more moves that still have to copy than the throttle has free copy slots', () => {
    expect(pickStartable(queue, new Set(), {maxConcurrent: 30, perNode: 1, copySlots: 2}).map((m) => m.id)).toEqual(['q0', 'q1'])
    expect(pickStartable(queue, new Set(['q0', 'q1']), {maxConcurrent: 30, perNode: 1, copySlots: 0})).toEqual([])
  })

  it('still starts a move resumed past its copy when no copy slot is free', () => {
    const resumed = queue.map((m) => (m.id === 'q3' ? {...m, phase: 'cutover' as const} : m))
    expect(pickStartable(resumed, new Set(), {maxConcurrent: 30, perNode: 1, copySlots: 1}).map((m) => m.id)).toEqual(['q0', 'q3'])
  })
})
