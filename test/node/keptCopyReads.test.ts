import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type MoveSide} from '../../src/node/moveCopyHolds.js'
import {type NodeClient} from '../../src/node/nodeClient.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {codeOf, keyIn} from '../support/nodeTestData.js'
import {EditableShardMap} from '../support/staticShardMap.js'

/**
 * A destination that left a shard (an abort, a rollback's last step) keeps its copy while the move's source is down and
 * the copy may be the only one up of an acknowledged write; the executor repairs the shard's voters from it before it is
 * dropped (src/executor/keptCopyRepair.ts). The node holds no role in the shard then, and refuses digests and bucket
 * listings of it (NOT_OWNER) unless the request names the move keeping the copy, and the move record, read now, says so.
 */

const TOKEN = 'unit-test-token-0123456789'
const half = HASH_SPACE / 2
const map = new EditableShardMap()
const moves = new Map<string, MoveSide>()
let node: InProcessNode
let client: NodeClient
let reads = 0

beforeAll(async () => {
  // Shard 0: `me` left it (n1..n3 are its voters again); shard 1: `me` is a voter.
  map.set({id: 0, range: {lo: 0, hi: half}, epoch: 7, replicas: ['n1', 'n2', 'n3'].map((n) => ({node: n, role: 'voter' as const}))})
  map.set({id: 1, range: {lo: half, hi: HASH_SPACE}, epoch: 2, replicas: [{node: 'me', role: 'voter'}]})
  node = await startInProcessNode({
    map,
    token: TOKEN,
    tombstoneGraceMs: 3_600_000,
    timeoutMs: 3000,
    dirPrefix: 'shardctl-kept-',
    keptCopy: async (id) => {
      reads++
      if (id === 'etcd-down') throw new Error('etcd unreachable')
      return moves.get(id)
    },
  })
  client = node.client
  // What the copy holds of shard 0's range (written while it was a replica).
  await node.engine.apply([{key: keyIn(0, half, 'kept'), version: formatHlc({wall: Date.now(), counter: 0, writer: 'u'}), value: Buffer.from('only-here')}])
})

afterAll(() => node.close())

describe("reads of a destination's kept copy", {timeout: 30_000}, () => {
  it('are answered while the named move keeps this node\'s copy of that shard outside its map (aborting, rb-cutover)', async () => {
    for (const phase of ['aborting', 'rb-cutover']) {
      moves.set('m1', {id: 'm1', shard: 0, from: 'n1', to: 'me', phase})
      const d = await client.digest(0, 7, {keptFor: 'm1'})
      expect(d.counts.reduce((a, b) => a + b, 0)).toBe(1)
      const all = d.counts.flatMap((c, i) => (c > 0 ? [i] : []))
      const listed = await client.bucketRecords(0, 7, all, {keptFor: 'm1'})
      expect(listed.records.map((r) => r.value?.toString())).toEqual(['only-here'])
    }
  })

  it('are refused without the move (NOT_OWNER, as before), for a move that does not keep it, and never write', async () => {
    moves.set('m1', {id: 'm1', shard: 0, from: 'n1', to: 'me', phase: 'aborting'})
    expect(await codeOf(client.digest(0, 7))).toBe('NOT_OWNER')
    expect(await codeOf(client.bucketRecords(0, 7, [0]))).toBe('NOT_OWNER')
    expect(await codeOf(client.digest(0, 7, {keptFor: 'no-such-move'}))).toBe('NOT_OWNER')
    moves.set('m2', {id: 'm2', shard: 0, from: 'n1', to: 'n4', phase: 'aborting'})
    expect(await codeOf(client.digest(0, 7, {keptFor: 'm2'}))).toBe('NOT_OWNER')
    moves.set('m3', {id: 'm3', shard: 1, from: 'n1', to: 'me', phase: 'aborting'})
    expect(await codeOf(client.digest(0, 7, {keptFor: 'm3'}))).toBe('NOT_OWNER')
    for (const phase of ['aborted', 'rolledback', 'copying', 'done']) {
      moves.set('m4', {id: 'm4', shard: 0, from: 'n1', to: 'me', phase})
      expect(await codeOf(client.digest(0, 7, {keptFor: 'm4'}))).toBe('NOT_OWNER')
    }
    // Writes name no move: a node with no role refuses them.
    expect(await codeOf(client.apply(0, 7, [{key: keyIn(0, half, 'w'), version: formatHlc({wall: Date.now(), counter: 0, writer: 'u'}), value: Buffer.from('x')}], 'repair'))).toBe('NOT_OWNER')
  })

  it('are fenced on the epoch like any read, refused where the node holds a role, and never answered on an unreadable move record', async () => {
    moves.set('m1', {id: 'm1', shard: 0, from: 'n1', to: 'me', phase: 'aborting'})
    expect(await codeOf(client.digest(0, 6, {keptFor: 'm1'}))).toBe('STALE_EPOCH')
    moves.set('m5', {id: 'm5', shard: 1, from: 'n1', to: 'me', phase: 'aborting'})
    expect(await codeOf(client.digest(1, 2, {keptFor: 'm5'}))).toBe('NOT_OWNER')
    expect(await codeOf(client.digest(0, 7, {keptFor: 'etcd-down'}))).toBe('NOT_SERVING')
    expect(await codeOf(client.digest(0, 7, {keptFor: 'bad id!'}))).toBe('BAD_INPUT')
    const before = reads
    expect(await codeOf(client.digest(1, 2))).toBe('ok')
    expect(reads).toBe(before)
  })
})
