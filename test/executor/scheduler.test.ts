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

describe('pickStartable exclusive nodes (the redis engine)', () => {
  // A chain a -> b -> c -> d plus an unrelated e -> f: b and c are each on both sides of two moves.
  const chain = [
    moveOf({id: 'ab', index: 0, shard: 1, from: 'a', to: 'b'}),
    moveOf({id: 'bc', index: 1, shard: 2, from: 'b', to: 'c'}),
    moveOf({id: 'cd', index: 2, shard: 3, from: 'c', to: 'd'}),
    moveOf({id: 'ef', index: 3, shard: 4, from: 'e', to: 'f'}),
  ]
  const loose = {maxConcurrent: 10, perNode: 10, incomingPerNode: 10}

  it('without the rule, runs a master as the target of one move and the source of another at once', () => {
    expect(pickStartable(chain, new Set(), loose).map((m) => m.id)).toEqual(['ab', 'bc', 'cd', 'ef'])
  })

  it('never starts a move sharing a master, on either side, with a move picked or running', () => {
    const exclusive = {...loose, exclusiveNodes: true}
    expect(pickStartable(chain, new Set(), exclusive).map((m) => m.id)).toEqual(['ab', 'cd', 'ef'])
    expect(pickStartable(chain, new Set(['bc']), exclusive).map((m) => m.id)).toEqual(['ef'])
    const abDone = chain.map((m) => (m.id === 'ab' || m.id === 'cd' ? {...m, phase: 'done' as const} : m))
    expect(pickStartable(abDone, new Set(['ef']), exclusive).map((m) => m.id)).toEqual(['bc'])
  })

  it('holds for any plan: no two moves picked or running share a node', () => {
    const nodes = ['a', 'b', 'c', 'd', 'e']
    let seed = 17
    const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n)
    for (let round = 0; round < 300; round++) {
      const moves = Array.from({length: 8}, (_, i) => {
        const from = nodes[rand(nodes.length)] ?? 'a'
        const others = nodes.filter((n) => n !== from)
        return moveOf({id: `r${i}`, index: i, shard: rand(6), from, to: others[rand(others.length)] ?? 'b'})
      })
      const running = new Set(moves.filter(() => rand(4) === 0).map((m) => m.id))
      // Running moves obeyed the rule themselves: keep the first of any that clash.
      const seen = new Set<string>()
      for (const m of moves) {
        if (!running.has(m.id)) continue
        if (seen.has(m.from) || seen.has(m.to)) running.delete(m.id)
        else seen.add(m.from).add(m.to)
      }
      const active = [...moves.filter((m) => running.has(m.id)), ...pickStartable(moves, running, {...loose, exclusiveNodes: true})]
      const sides = active.flatMap((m) => [m.from, m.to])
      expect(new Set(sides).size).toBe(sides.length)
    }
  })
})
