import {describe, expect, it} from 'vitest'
import {type DigestResponse} from '../../src/node/protocol.js'
import {agreedDigests, initialCutoff} from '../../src/repair/agreedCutoff.js'

/** replica answers like a node: its cutoff is the asked one clamped to its clock minus its grace. */
const replica = (floor: number) => (asked: number): DigestResponse => ({shard: 1, epoch: 1, range: {lo: 0, hi: 10}, bounds: [0, 10], buckets: ['0000000000000000'], counts: [0], tombstonesBefore: Math.min(asked, floor)})

describe('agreedDigests', () => {
  it('given replicas with different clocks, when asked, then they settle on the oldest cutoff in two rounds and every digest uses it', async () => {
    const floors = new Map([['a', 9000], ['b', 8500], ['c', 9900]])
    const asked: number[] = []
    const got = await agreedDigests(async (c) => {
      asked.push(c)
      return new Map([...floors].map(([n, f]) => [n, replica(f)(c)]))
    }, 10_000)
    expect(got.cutoff).toBe(8500)
    expect(asked).toEqual([10_000, 8500])
    expect([...got.digests.values()].every((d) => d.tombstonesBefore === 8500)).toBe(true)
  })

  it('given a replica that ignores cutoffs (an older node), when asked, then no cutoff is agreed', async () => {
    const got = await agreedDigests(async () => new Map([['a', {...replica(1)(5), tombstonesBefore: undefined}], ['b', replica(1)(5)]]), 5)
    expect(got.cutoff).toBeUndefined()
  })

  it('given replicas whose floors keep moving below the ask, when attempts run out, then no cutoff is agreed', async () => {
    let floor = 1000
    const got = await agreedDigests(async (c) => new Map([['a', replica((floor -= 10))(c)], ['b', replica(floor - 5)(c)]]), 2000, 3)
    expect(got.cutoff).toBeUndefined()
  })

  it('given replicas of one build, when asked, then they are asked once at this build\'s record hash format', async () => {
    const asked: Array<[number, number]> = []
    const got = await agreedDigests(async (c, f) => {
      asked.push([c, f])
      return new Map([['a', {...replica(1e9)(c), format: f}], ['b', {...replica(1e9)(c), format: f}]])
    }, 5000)
    expect(asked).toEqual([[5000, 3]])
    expect(got).toMatchObject({cutoff: 5000, format: 3})
  })

  it('given a replica of the older build (answers at format 2 whatever is asked, names no format), when asked, then every replica is asked again at 2 and the answers are comparable', async () => {
    const asked: Array<[number, number]> = []
    const got = await agreedDigests(async (c, f) => {
      asked.push([c, f])
      const old: DigestResponse = replica(1e9)(c)
      return new Map<string, DigestResponse>([['new', {...replica(1e9)(c), format: f}], ['old', old]])
    }, 5000)
    expect(asked).toEqual([[5000, 3], [5000, 2]])
    expect(got.cutoff).toBe(5000)
    expect(got.format).toBe(2)
    expect(got.digests.get('new')?.format).toBe(2)
  })

  it('given a format mismatch and a cutoff clamp at once, when asked, then both are settled in the same second ask', async () => {
    const asked: Array<[number, number]> = []
    const got = await agreedDigests(async (c, f) => {
      asked.push([c, f])
      return new Map([['new', {...replica(4000)(c), format: f}], ['old', {...replica(4500)(c), format: 2}]])
    }, 5000)
    expect(asked).toEqual([[5000, 3], [4000, 2]])
    expect(got).toMatchObject({cutoff: 4000, format: 2})
  })

  it('given replicas that keep answering different formats, when attempts run out, then nothing is agreed', async () => {
    let flip = 2
    const got = await agreedDigests(async (c) => new Map([['a', {...replica(1e9)(c), format: (flip = 5 - flip)}], ['b', {...replica(1e9)(c), format: 5 - flip}]]), 5000, 3)
    expect(got.cutoff).toBeUndefined()
  })

  it('given the clock bound, when starting, then the cutoff is twice the bound behind the clock', () => {
    expect(initialCutoff(10_000)).toBe(9000)
    expect(initialCutoff(10_000, 100)).toBe(9800)
  })
})
