import {describe, expect, it} from 'vitest'
import {canonicalJson, sha256Hex} from '../../src/model/canonicalJson.js'
import {HASH_SPACE} from '../../src/model/hash.js'
import {ClusterSnapshotSchema, shardMapFingerprint} from '../../src/model/snapshot.js'
import {formatZodIssue} from '../../src/model/zodIssues.js'

const shards = [
  {id: 0, range: {lo: 0, hi: HASH_SPACE / 2}, epoch: 1, replicas: [{node: 'n1', role: 'voter' as const}]},
  {id: 1, range: {lo: HASH_SPACE / 2, hi: HASH_SPACE}, epoch: 3, replicas: [{node: 'n2', role: 'voter' as const}]},
]

function snapshot(overrides: Record<string, unknown> = {}) {
  return {
    version: 1,
    cluster: {version: 1, name: 'c', rf: 1, hash: 'murmur3-x86_32', createdAt: '2026-01-01T00:00:00.000Z', nextShardId: 2},
    revision: '42',
    fingerprint: shardMapFingerprint(shards),
    nodes: [
      {id: 'n1', address: '127.0.0.1:7001', createdAt: 'x'},
      {id: 'n2', address: '127.0.0.1:7002', createdAt: 'x'},
    ],
    shards,
    load: [{node: 'n1', shard: 0, reads: 10, writes: 1, bytes: 100, keys: 3}],
    ...overrides,
  }
}

const issueOf = (value: unknown) => {
  const r = ClusterSnapshotSchema.safeParse(value)
  return r.success ? undefined : formatZodIssue(r.error)
}

describe('ClusterSnapshotSchema', () => {
  it('accepts a consistent snapshot and fills defaults', () => {
    const r = ClusterSnapshotSchema.parse(snapshot())
    expect(r.nodes[0]).toMatchObject({zone: 'default', state: 'active', capacity: {}, alive: true})
    expect(r.constraints).toEqual([])
  })

  it('names the field path of bad input', () => {
    expect(issueOf(snapshot({load: [{node: 'n1', shard: 0, reads: -1, writes: 0, bytes: 0, keys: 0}]}))).toMatch(/^load\[0\]\.reads: /)
    expect(issueOf(snapshot({load: [{node: 'n1', shard: 0, reads: Number.NaN, writes: 0, bytes: 0, keys: 0}]}))).toMatch(/^load\[0\]\.reads/)
    expect(issueOf(snapshot({nodes: [{id: 'n1', address: 'nope', createdAt: 'x'}]}))).toMatch(/^nodes\[0\]\.address: address must be host:port/)
    expect(issueOf(snapshot({nodes: [{id: 'n1', address: '127.0.0.1:1', createdAt: 'x', capacity: {reads: -5}}]}))).toMatch(/^nodes\[0\]\.capacity\.reads/)
  })

  it('checks cross-references: unknown nodes, loads on non-replicas, gaps, unknown constraint targets', () => {
    expect(issueOf(snapshot({nodes: [{id: 'n1', address: '127.0.0.1:1', createdAt: 'x'}]}))).toMatch(/shards\[1\]\.replicas\[0\]\.node: unknown node "n2"/)
    expect(issueOf(snapshot({load: [{node: 'n2', shard: 0, reads: 1, writes: 0, bytes: 0, keys: 0}]}))).toMatch(/load\[0\]: node "n2" holds no replica of shard 0/)
    expect(issueOf(snapshot({shards: [shards[0]]}))).toMatch(/shards: gap in hash space/)
    expect(issueOf(snapshot({constraints: [{kind: 'pin', shard: 9, node: 'n1'}]}))).toMatch(/constraints\[0\]\.shard: unknown shard 9/)
  })
})

describe('shardMapFingerprint', () => {
  it('ignores order but changes with any epoch or replica change', () => {
    const fp = shardMapFingerprint(shards)
    expect(shardMapFingerprint([...shards].reverse())).toBe(fp)
    expect(shardMapFingerprint([{...shards[0]!, epoch: 2}, shards[1]!])).not.toBe(fp)
    expect(shardMapFingerprint([{...shards[0]!, replicas: [{node: 'n1', role: 'joining'}]}, shards[1]!])).not.toBe(fp)
  })
})

describe('canonicalJson', () => {
  it('sorts keys at every level and refuses non-JSON numbers', () => {
    expect(canonicalJson({b: 1, a: {d: [1, {z: 1, y: 2}], c: null}})).toBe('{"a":{"c":null,"d":[1,{"y":2,"z":1}]},"b":1}')
    expect(() => canonicalJson({a: Number.NaN})).toThrow(TypeError)
    expect(sha256Hex('')).toBe('e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  })
})
