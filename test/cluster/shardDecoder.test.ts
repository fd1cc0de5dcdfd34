import fc from 'fast-check'
import {describe, expect, it} from 'vitest'
import {fastShard, scanShard, ShardDecoder} from '../../src/cluster/shardDecoder.js'
import {HASH_SPACE} from '../../src/model/hash.js'
import {REPLICA_ROLES, ShardSchema} from '../../src/model/shard.js'

/**
 * The fast path must never accept what ShardSchema rejects, and must give what it gives
 * when it accepts. Records are generated near the edges of every check (ids, epochs, range
 * bounds, node ids, roles, duplicate nodes, extra fields, wrong types).
 */

const edgeInt = fc.oneof(fc.integer({min: -2, max: 3}), fc.constantFrom(HASH_SPACE - 1, HASH_SPACE, HASH_SPACE + 1, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER + 2, 1.5, -0), fc.nat())
const anyValue = fc.oneof(edgeInt, fc.string({maxLength: 3}), fc.constant(null), fc.boolean())
const nodeId = fc.oneof(fc.constantFrom('n1', 'n2', 'a.b-c_d', 'x'.repeat(63), 'x'.repeat(64), '-n', '', 'n 1', 'n\u00e9'), fc.string({maxLength: 4}))
const role = fc.oneof(fc.constantFrom(...REPLICA_ROLES), fc.constantFrom('Voter', '', 'learner'))
const replica = fc.oneof({weight: 8, arbitrary: fc.record({node: nodeId, role})}, {weight: 1, arbitrary: fc.record({node: nodeId, role, extra: anyValue})}, {weight: 1, arbitrary: anyValue})
const record = fc.record(
  {
    id: fc.oneof({weight: 4, arbitrary: fc.nat(1000)}, {weight: 1, arbitrary: anyValue}),
    range: fc.oneof({weight: 6, arbitrary: fc.record({lo: edgeInt, hi: edgeInt})}, {weight: 1, arbitrary: anyValue}),
    epoch: fc.oneof({weight: 4, arbitrary: fc.integer({min: 1, max: 9})}, {weight: 1, arbitrary: edgeInt}),
    replicas: fc.oneof({weight: 6, arbitrary: fc.array(replica, {maxLength: 4})}, {weight: 1, arbitrary: anyValue}),
    note: anyValue,
  },
  {requiredKeys: ['id', 'range', 'epoch', 'replicas']},
)
const validRecord = fc.record({
  id: fc.nat(1000),
  range: fc.nat(HASH_SPACE - 2).chain((lo) => fc.record({lo: fc.constant(lo), hi: fc.integer({min: lo + 1, max: HASH_SPACE})})),
  epoch: fc.integer({min: 1, max: 9}),
  replicas: fc.array(fc.record({node: fc.constantFrom('n1', 'n2', 'n3', 'n4'), role}), {minLength: 1, maxLength: 4}),
})

describe('fastShard', () => {
  it('Given records near every edge of the schema, Then it accepts only what ShardSchema accepts, with the same output', () => {
    let accepted = 0
    fc.assert(
      fc.property(fc.oneof({weight: 3, arbitrary: validRecord}, {weight: 3, arbitrary: record}, {weight: 1, arbitrary: anyValue}), (rec) => {
        const json = JSON.parse(JSON.stringify(rec)) as unknown
        const fast = fastShard(json)
        const zod = ShardSchema.safeParse(json)
        if (fast !== undefined) {
          accepted++
          expect(zod.success).toBe(true)
          expect(fast).toEqual(zod.data)
        }
      }),
      {numRuns: 5000},
    )
    // The generator reaches valid records often enough that the fast path was exercised.
    expect(accepted).toBeGreaterThan(100)
  })
})

describe('ShardDecoder', () => {
  const value = (id: number, replicas: unknown) => JSON.stringify({id, range: {lo: id, hi: id + 1}, epoch: 1, replicas})

  it('Given shards with equal replica lists, Then they share one frozen list; a different list is its own', () => {
    const d = new ShardDecoder()
    const r = [{node: 'n1', role: 'voter'}, {node: 'n2', role: 'joining'}]
    const a = d.decode('k0', value(0, r))
    const b = d.decode('k1', value(1, r))
    const c = d.decode('k2', value(2, [...r].reverse()))
    expect(a?.replicas).toBe(b?.replicas)
    expect(c?.replicas).not.toBe(a?.replicas)
    expect(d.internedLists()).toBe(2)
    expect(Object.isFrozen(a?.replicas)).toBe(true)
    expect(() => (a?.replicas[0] as {role: string}).role = 'leaving').toThrow(TypeError)
    expect(b?.replicas[0]?.role).toBe('voter')
  })

  it('Given a value that is not JSON or not a shard, Then undefined and the schema\'s one-line reason', () => {
    const d = new ShardDecoder()
    const problems: string[] = []
    const onInvalid = (key: string, message: string) => problems.push(`${key}: ${message}`)
    expect(d.decode('k', '{', onInvalid)).toBeUndefined()
    expect(d.decode('k', value(1, [{node: 'n1', role: 'voter'}, {node: 'n1', role: 'joining'}]), onInvalid)).toBeUndefined()
    expect(d.decode('k', value(1, [{node: 'n1', role: 'boss'}]), onInvalid)).toBeUndefined()
    expect(problems).toEqual(['k: not JSON', 'k: a shard lists the same node twice', expect.stringMatching(/^k: replicas\[0\]\.role: /)])
  })
})

describe('ShardDecoder on stored text (scanShard, replica lists by text)', () => {
  /** zodDecode is what the schema makes of a stored value: the reference the decoder must match. */
  const zodDecode = (text: string): unknown => {
    let json: unknown
    try {
      json = JSON.parse(text)
    } catch {
      return undefined
    }
    const r = ShardSchema.safeParse(json)
    return r.success ? r.data : undefined
  }
  /** textEdits are small changes to a stored value that keep it JSON or break it, near what the scanner reads. */
  const textEdit = fc.oneof(
    fc.constant((t: string) => t),
    fc.constant((t: string) => t.replace(':', ': ')),
    fc.constant((t: string) => t.replace(/"epoch":(\d+)/, '"epoch":0$1')),
    fc.constant((t: string) => t.replace(/"id":(\d+)/, '"id":$1.0')),
    fc.constant((t: string) => t.replace(/"lo":(\d+)/, '"lo":$1e0')),
    fc.constant((t: string) => t.replace(/"hi":(\d+)/, '"hi":-$1')),
    fc.constant((t: string) => t.replace(/"id":(\d+)/, '"id":1234567890123456')),
    fc.constant((t: string) => t.replace(/"id":(\d+)/, '"id":9007199254740993')),
    fc.constant((t: string) => `${t.slice(0, -1)},"id":7}`),
    fc.constant((t: string) => `${t.slice(0, -1)} }`),
    fc.constant((t: string) => `${t.slice(0, -2)}}`),
    fc.constant((t: string) => t.replace('"range":{"lo"', '"range":{"x":1,"lo"')),
    fc.constant((t: string) => t.replace(/\]\}$/, '],"x":[1]}')),
    fc.constant((t: string) => t.replace('"replicas":[', '"replicas":[ ')),
    // The numbers' own checks, on otherwise valid records.
    fc.constant((t: string) => t.replace(/"epoch":\d+/, '"epoch":0')),
    fc.constant((t: string) => t.replace(/"hi":\d+/, '"hi":0')),
    fc.constant((t: string) => t.replace(/"hi":\d+/, `"hi":${HASH_SPACE}`)),
    fc.constant((t: string) => t.replace(/"hi":\d+/, `"hi":${HASH_SPACE + 1}`)),
    fc.constant((t: string) => t.replace(/"lo":(\d+),"hi":\d+/, '"lo":$1,"hi":$1')),
    fc.constant((t: string) => t.replace(/"lo":\d+,"hi":(\d+)/, '"lo":$1,"hi":$1')),
  )

  it('Given stored values in shardctl\'s own form, edited near every field, Then decode accepts only what ShardSchema accepts, with the same shard, and a repeated list text stays right', () => {
    let scanned = 0
    let accepted = 0
    const d = new ShardDecoder()
    fc.assert(
      fc.property(fc.oneof({weight: 3, arbitrary: validRecord}, {weight: 2, arbitrary: record}), textEdit, (rec, edit) => {
        const text = edit(JSON.stringify(rec))
        if (scanShard(text)) scanned++
        const want = zodDecode(text)
        // Twice: the second decode of the same list text comes from the text cache.
        for (let i = 0; i < 2; i++) {
          const got = d.decode('k', text)
          if (want === undefined) expect(got).toBeUndefined()
          else (accepted++, expect(got).toEqual(want))
        }
      }),
      {numRuns: 5000},
    )
    // Both paths ran often: the scanner's and the full parse's.
    expect(scanned).toBeGreaterThan(500)
    expect(accepted).toBeGreaterThan(500)
  })

  it('Given a record whose replica list is invalid, Then the scanner passes it on and the schema names the problem; its text is not remembered', () => {
    const d = new ShardDecoder()
    const problems: string[] = []
    const text = '{"id":3,"range":{"lo":0,"hi":9},"epoch":2,"replicas":[{"node":"n1","role":"voter"},{"node":"n1","role":"voter"}]}'
    expect(text.slice(scanShard(text)?.replicasFrom ?? 0, -1)).toBe('[{"node":"n1","role":"voter"},{"node":"n1","role":"voter"}]')
    expect(d.decode('k', text, (k, m) => problems.push(`${k}: ${m}`))).toBeUndefined()
    expect(d.decode('k', text, (k, m) => problems.push(`${k}: ${m}`))).toBeUndefined()
    expect(problems).toEqual(['k: a shard lists the same node twice', 'k: a shard lists the same node twice'])
    const ok = d.decode('k', '{"id":4,"range":{"lo":9,"hi":10},"epoch":1,"replicas":[{"node":"n1","role":"voter"}]}')
    const same = d.decode('k', '{"id":5,"range":{"lo":10,"hi":11},"epoch":1,"replicas":[{"node":"n1","role":"voter"}]}')
    expect(ok).toEqual({id: 4, range: {lo: 9, hi: 10}, epoch: 1, replicas: [{node: 'n1', role: 'voter'}]})
    expect(same?.replicas).toBe(ok?.replicas)
    expect(Object.isFrozen(ok?.replicas)).toBe(true)
  })
})
