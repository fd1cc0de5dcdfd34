import {describe, expect, it} from 'vitest'
import {isLiveMaster, myself, parseClusterNodes, shortNodeId, slotRuns} from '../../src/redis/clusterNodes.js'

const A = 'a'.repeat(40)
const B = 'b'.repeat(40)
const C = 'c'.repeat(40)
const R = 'd'.repeat(40)
// As redis-server 7.0 prints it: bus port and hostname after the address, open slots in brackets.
const NODES = [
  `${A} 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460 [5461->-${B}]`,
  `${B} 127.0.0.1:7001@17001,host-b master - 0 1700000000000 2 connected 5461-10922 [100-<-${A}]`,
  `${C} 127.0.0.1:7002@17002 master,fail - 0 0 3 disconnected 10923-16383`,
  `${R} 127.0.0.1:7003@17003 slave ${A} 0 0 1 connected`,
  '',
].join('\n')

describe('parseClusterNodes', () => {
  it('reads ids, addresses without bus port or hostname, roles, slots and open slots', () => {
    const nodes = parseClusterNodes(NODES)
    expect(nodes.map((n) => n.address)).toEqual(['127.0.0.1:7000', '127.0.0.1:7001', '127.0.0.1:7002', '127.0.0.1:7003'])
    expect(myself(nodes)!.id).toBe(A)
    expect(nodes[0]!.slots).toHaveLength(5461)
    expect(nodes[0]!.migrating.get(5461)).toBe(B)
    expect(nodes[1]!.importing.get(100)).toBe(A)
    expect(nodes[1]!.slots[0]).toBe(5461)
    expect(nodes[3]!.masterId).toBe(A)
    expect(nodes.filter(isLiveMaster).map((n) => n.id)).toEqual([A, B])
    expect(nodes[2]!.linkConnected).toBe(false)
    expect(nodes.map((n) => n.configEpoch)).toEqual([1, 2, 3, 1])
  })

  it('throws naming the line on malformed input', () => {
    expect(() => parseClusterNodes('garbage line')).toThrow(/unexpected CLUSTER NODES line: garbage/)
    expect(() => parseClusterNodes(`${A} 127.0.0.1:7000@17000 master - 0 0 x connected`)).toThrow(/unexpected CLUSTER NODES line/)
    expect(() => parseClusterNodes(`${A} 127.0.0.1:7000@17000 master - 0 0 1 connected 5-x`)).toThrow(/slot token "5-x"/)
  })

  it('shortNodeId keeps the first 12 hex digits', () => {
    expect(shortNodeId(A)).toBe('aaaaaaaaaaaa')
  })
})

describe('slotRuns', () => {
  const master = (id: string, slots: number[]) => ({id, address: '', flags: ['master'], masterId: null, configEpoch: 1, linkConnected: true, slots, migrating: new Map(), importing: new Map()})
  const range = (lo: number, hi: number) => Array.from({length: hi - lo}, (_, i) => lo + i)

  it('cuts each contiguous run of one owner into pieces of at most maxSlots, covering every slot once', () => {
    const runs = slotRuns([master(A, [...range(0, 10), ...range(20, 25)]), master(B, range(10, 20))], 4, 25)
    expect(runs).toEqual([
      {from: 0, to: 3, owner: A},
      {from: 3, to: 6, owner: A},
      {from: 6, to: 10, owner: A},
      {from: 10, to: 13, owner: B},
      {from: 13, to: 16, owner: B},
      {from: 16, to: 20, owner: B},
      {from: 20, to: 22, owner: A},
      {from: 22, to: 25, owner: A},
    ])
  })

  it('refuses a slot with no owner or two owners', () => {
    expect(() => slotRuns([master(A, range(0, 9))], 4, 10)).toThrow(/slot 9 has no master/)
    expect(() => slotRuns([master(A, range(0, 10)), master(B, [3])], 4, 10)).toThrow(/slot 3 is claimed by both/)
  })
})
