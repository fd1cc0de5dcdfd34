import {spawnSync} from 'node:child_process'
import {fileURLToPath, pathToFileURL} from 'node:url'
import {describe, expect, it} from 'vitest'
import {PlacementRing, type RingNode} from '../../src/placement/ring.js'

const ringModule = pathToFileURL(fileURLToPath(new URL('../../src/placement/ring.ts', import.meta.url))).href

function nodes(n: number, zones: number): RingNode[] {
  return Array.from({length: n}, (_, i) => ({id: `node-${i}`, zone: `zone-${i % zones}`}))
}

function placeAll(ring: PlacementRing, shards: number, rf: number): string[][] {
  return Array.from({length: shards}, (_, s) => ring.replicasFor(s, rf))
}

describe('PlacementRing', {timeout: 30_000}, () => {
  it('given rings of several sizes, when walking from a shard, then the fast walk visits the same nodes in the same order as the package', () => {
    for (const [count, zones, pointsPerNode] of [
      [1, 1, 1],
      [2, 1, 3],
      [7, 3, 5],
      [40, 3, 160],
      [130, 4, 16],
    ] as const) {
      const ring = new PlacementRing(nodes(count, zones), {pointsPerNode})
      for (let s = 0; s < 1500; s++) {
        const want = 1 + (s % Math.min(count, 12))
        expect(ring.walkIds(s, want)).toEqual(ring.packageWalk(s, want))
      }
      // The full walk reaches every node, as the package's does.
      expect(ring.walkIds(3, count)).toEqual(ring.packageWalk(3, count))
    }
  })

  it('given rings of several sizes and zone counts, when placing, then the typed-array index places every shard on the nodes the package gives, in the same order', () => {
    for (const [count, zones, rf] of [
      [1, 1, 1],
      [3, 1, 3],
      [6, 3, 3],
      [7, 2, 3],
      [12, 4, 2],
      [40, 3, 3],
      [9, 9, 5],
    ] as const) {
      const ring = new PlacementRing(nodes(count, zones), {pointsPerNode: 16})
      for (let s = 0; s < 800; s++) expect(ring.replicaOrdinals(s, rf).map((k) => ring.ordinalIds[k])).toEqual(ring.replicasFor(s, rf))
    }
  })

  it('given rf 3 and three zones, when placing shards, then replicas are distinct nodes in distinct zones', () => {
    const ns = nodes(12, 3)
    const zoneOf = new Map(ns.map((n) => [n.id, n.zone]))
    const ring = new PlacementRing(ns)
    for (const replicas of placeAll(ring, 600, 3)) {
      expect(replicas).toHaveLength(3)
      expect(new Set(replicas).size).toBe(3)
      expect(new Set(replicas.map((r) => zoneOf.get(r))).size).toBe(3)
    }
  })

  it('given fewer zones than rf, when placing, then replicas are distinct and cover every zone', () => {
    const ns = nodes(6, 2)
    const zoneOf = new Map(ns.map((n) => [n.id, n.zone]))
    const ring = new PlacementRing(ns)
    for (const replicas of placeAll(ring, 500, 3)) {
      expect(new Set(replicas).size).toBe(3)
      expect(new Set(replicas.map((r) => zoneOf.get(r))).size).toBe(2)
    }
  })

  it('given one zone with few nodes, when rf equals the node count, then every node holds every shard', () => {
    const ring = new PlacementRing(nodes(3, 1))
    for (const replicas of placeAll(ring, 100, 3)) expect([...replicas].sort()).toEqual(['node-0', 'node-1', 'node-2'])
  })

  it('given rf 1, when placing, then each shard gets one node and the spread is even', () => {
    const ring = new PlacementRing(nodes(10, 1))
    const counts = new Map<string, number>()
    for (const [n] of placeAll(ring, 20000, 1)) counts.set(n!, (counts.get(n!) ?? 0) + 1)
    expect(counts.size).toBe(10)
    for (const c of counts.values()) expect(c / 2000).toBeGreaterThan(0.75)
    for (const c of counts.values()) expect(c / 2000).toBeLessThan(1.25)
  })

  it('given the same nodes in another order, when placing, then the placement is identical', () => {
    const ns = nodes(20, 3)
    const a = placeAll(new PlacementRing(ns), 1000, 3)
    const b = placeAll(new PlacementRing([...ns].reverse()), 1000, 3)
    expect(b).toEqual(a)
  })

  it('given one node added, when placing again, then only a small fraction of replicas move', () => {
    const ns = nodes(20, 1)
    const before = placeAll(new PlacementRing(ns), 4000, 1)
    const after = placeAll(new PlacementRing([...ns, {id: 'node-new', zone: 'zone-0'}]), 4000, 1)
    const moved = before.filter((r, i) => r[0] !== after[i]![0])
    // Ideal is 1/21 of the shards; every moved shard goes to the new node.
    expect(moved.length / 4000).toBeLessThan(0.1)
    for (let i = 0; i < before.length; i++) if (before[i]![0] !== after[i]![0]) expect(after[i]![0]).toBe('node-new')
  })

  it('given bad input, when constructing or placing, then it throws RangeError', () => {
    expect(() => new PlacementRing([])).toThrow(RangeError)
    expect(() => new PlacementRing([{id: 'a', zone: 'z'}, {id: 'a', zone: 'z'}])).toThrow(/listed twice/)
    const ring = new PlacementRing(nodes(2, 1))
    expect(() => ring.replicasFor(0, 3)).toThrow(RangeError)
    expect(() => ring.replicasFor(0, 0)).toThrow(RangeError)
  })

  it('given two separate processes, when placing the same shards, then they agree', () => {
    const script = `
      const {PlacementRing} = await import(${JSON.stringify(ringModule)})
      const ns = Array.from({length: 30}, (_, i) => ({id: 'node-' + i, zone: 'zone-' + (i % 3)}))
      const ring = new PlacementRing(ns)
      const out = []
      for (let s = 0; s < 300; s++) out.push(ring.replicasFor(s, 3))
      process.stdout.write(JSON.stringify(out))
    `
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {encoding: 'utf8', timeout: 50_000})
    expect(child.stderr).toBe('')
    const theirs = JSON.parse(child.stdout) as string[][]
    const ours = placeAll(new PlacementRing(nodes(30, 3)), 300, 3)
    expect(theirs).toEqual(ours)
  }, 60_000)
})
