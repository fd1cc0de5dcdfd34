import {afterEach, describe, expect, it} from 'vitest'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {codeOf, keyIn} from '../support/nodeTestData.js'
import {EditableShardMap} from '../support/staticShardMap.js'

/**
 * A tombstone purge is decided by anti-entropy on the shard as it read it (epoch E, every
 * replica a voter) and sent as two requests, fence then purge, both at E. These tests try
 * to make the second land after the shard changed under it — a split, a move — and check
 * that the node then refuses it (STALE_EPOCH) or needs a fence of the new range
 * (PRECONDITION), while the parent's gc floor keeps shadowed values out of both halves.
 */

const TOKEN = 'gc-epochs-token-0123456789'
const HOUR = 3_600_000
const half = HASH_SPACE / 2
const at = (wallMs: number) => formatHlc({wall: Math.floor(wallMs), counter: 0, writer: 'g'})

const nodes: InProcessNode[] = []
afterEach(async () => {
  for (const n of nodes.splice(0)) await n.close()
})

/** Given a node voter of shard 0 over the whole hash space at epoch 1, holding an old tombstone in each half and fenced at `cutoff`. */
async function fencedWhole() {
  // Its refresh also drops a shard etcd no longer has, as the node's follower does.
  const map = new EditableShardMap({forgetsRemoved: true})
  map.set({id: 0, range: {lo: 0, hi: HASH_SPACE}, epoch: 1, replicas: [{node: 'me', role: 'voter'}]})
  const node = await startInProcessNode({map, token: TOKEN, tombstoneGraceMs: HOUR, timeoutMs: 5000, dirPrefix: 'shardctl-gc-epochs-'})
  nodes.push(node)
  const old = Date.now() - 2 * HOUR
  const low = keyIn(0, half, 'low')
  const high = keyIn(half, HASH_SPACE, 'high')
  await node.client.apply(0, 1, [{key: low, version: at(old), value: null}, {key: high, version: at(old), value: null}], 'repair')
  const cutoff = Date.now() - HOUR - 60_000
  await node.client.gcFence(0, 1, cutoff)
  return {map, node, c: node.client, cutoff, old, low, high}
}

describe('tombstone purge decided at one epoch, sent after the shard changed', {timeout: 30_000}, () => {
  it('Given a fence at epoch 1, When the shard splits before the purge arrives, Then the purge at epoch 1 is STALE_EPOCH, each half needs its own fence, and repair values the parent floor shadows stay out of both halves', async () => {
    const {map, node, c, cutoff, old, low, high} = await fencedWhole()
    map.set({id: 0, range: {lo: 0, hi: half}, epoch: 2, replicas: [{node: 'me', role: 'voter'}]})
    map.set({id: 7, range: {lo: half, hi: HASH_SPACE}, epoch: 2, replicas: [{node: 'me', role: 'voter'}]})
    expect(await codeOf(c.gcPurge(0, 1, cutoff))).toBe('STALE_EPOCH')
    // The parent's fence does not license a purge of either half at the new epoch.
    expect(await codeOf(c.gcPurge(0, 2, cutoff))).toBe('PRECONDITION')
    expect(await codeOf(c.gcPurge(7, 2, cutoff))).toBe('PRECONDITION')
    expect(node.engine.tombstoneCount()).toBe(2)
    // A value the purged-to-be tombstones shadow, coming back by repair, is dropped in both halves.
    for (const [id, key] of [[0, low], [7, high]] as const) {
      expect(await c.apply(id, 2, [{key, version: at(old - 1000), value: Buffer.from('back')}], 'repair')).toMatchObject({applied: 0})
      expect(await codeOf(c.apply(id, 2, [{key, version: at(old - 1000), value: Buffer.from('back')}], 'write', {replay: true}))).toBe('PRECONDITION')
    }
    await c.gcFence(7, 2, cutoff)
    expect(await c.gcPurge(7, 2, cutoff)).toMatchObject({purged: 1})
    expect((await c.get(0, 2, low)).record?.value).toBeNull()
    expect((await c.get(7, 2, high)).record).toBeUndefined()
  })

  it('Given a fence at epoch 1, When a node that has not yet seen the split gets the purge at epoch 1, Then it purges only under the fence it took (the parent range), which still covers both halves', async () => {
    const {map, node, c, cutoff} = await fencedWhole()
    map.set({id: 0, range: {lo: 0, hi: half}, epoch: 2, replicas: [{node: 'me', role: 'voter'}]}, {lagging: true})
    expect(await c.gcPurge(0, 1, cutoff)).toMatchObject({purged: 2})
    expect(node.engine.tombstoneCount()).toBe(0)
  })

  it('Given a fence at epoch 1, When a move adds a joining replica before the purge arrives, Then the purge at epoch 1 is STALE_EPOCH, and so is one at any epoch the node has moved past', async () => {
    const {map, node, c, cutoff} = await fencedWhole()
    map.set({id: 0, range: {lo: 0, hi: HASH_SPACE}, epoch: 2, replicas: [{node: 'me', role: 'voter'}, {node: 'dst', role: 'joining'}]})
    expect(await codeOf(c.gcPurge(0, 1, cutoff))).toBe('STALE_EPOCH')
    // Cut over meanwhile: an anti-entropy run that read the joining epoch is fenced out as well.
    map.set({id: 0, range: {lo: 0, hi: HASH_SPACE}, epoch: 3, replicas: [{node: 'me', role: 'outgoing'}, {node: 'dst', role: 'voter'}]})
    expect(await codeOf(c.gcPurge(0, 2, cutoff))).toBe('STALE_EPOCH')
    expect(node.engine.tombstoneCount()).toBe(2)
  })
})
