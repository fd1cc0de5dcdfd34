import {request} from 'node:http'
import {afterEach, describe, expect, it} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {keysOf} from '../../src/etcd/keys.js'
import {HASH_SPACE} from '../../src/model/hash.js'
import {formatHlc} from '../../src/model/hlc.js'
import {type Shard} from '../../src/model/shard.js'
import {RECORDS_CONTENT_TYPE, TOKEN_HEADER} from '../../src/node/protocol.js'
import {encodeRecords} from '../../src/node/recordCodec.js'
import {NodeShardView} from '../../src/node/shardMapFollower.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {codeOf, keyIn} from '../support/nodeTestData.js'

// A node's fence on its real shard-map view (NodeShardView over the memory store), not the
// fake map of nodeHttpApi.test.ts: what is under test is how the view's refresh reads etcd.

const keys = keysOf('c')
const TOKEN = 'unit-test-token-0123456789'
const half = HASH_SPACE / 2
const q = half / 2

/** slowApply sends an apply's headers now (the node runs its first fence check) and its body when `sendBody` is called. */
function slowApply(port: number, shard: number, epoch: number, body: Buffer): {sendBody: () => void; answer: Promise<{status: number; body: string}>} {
  const req = request({host: '127.0.0.1', port, method: 'POST', path: `/v1/shards/${shard}/apply?epoch=${epoch}&kind=write`, headers: {[TOKEN_HEADER]: TOKEN, 'content-type': RECORDS_CONTENT_TYPE, 'content-length': body.length}})
  const answer = new Promise<{status: number; body: string}>((resolve, reject) => {
    req.on('response', (res) => {
      const parts: Buffer[] = []
      res.on('data', (c: Buffer) => parts.push(c))
      res.on('end', () => resolve({status: res.statusCode ?? 0, body: Buffer.concat(parts).toString()}))
    })
    req.on('error', reject)
  })
  req.flushHeaders()
  return {sendBody: () => req.end(body), answer}
}

const open: (() => Promise<void> | void)[] = []
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close()
})

describe('a node fencing writes of a split\'s parent on its real shard-map view', {timeout: 30_000}, () => {
  it('given a re-read of the parent sent before the split and answered after the barrier of a move of the upper half, and a watch that is down, when a write for the upper half sent at the parent\'s old epoch before the split has its body read after that barrier, then its last fence check re-reads the parent afresh and refuses it', async () => {
    const store = new MemoryStore()
    const admin = store.connect()
    open.push(() => store.close(), () => admin.close())
    const parent: Shard = {id: 30, range: {lo: 0, hi: half}, epoch: 1, replicas: [{node: 'me', role: 'voter'}]}
    await admin.put(keys.shard(30), JSON.stringify(parent))
    const view = new NodeShardView(makeServiceContext(store, {cluster: 'c'}), 'me')
    await view.start()
    open.push(() => view.stop())
    const node: InProcessNode = await startInProcessNode({map: view, token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 10_000, dirPrefix: 'shardctl-split-refresh-'})
    open.push(() => node.close())

    store.dropWatches({stayDown: true}) // the watch lags: the node learns of the split only by reading
    // A router that has not seen the split writes a key of the (future) upper half through the
    // parent at epoch 1; its headers arrive now (its first fence check passes: nothing overlaps
    // the parent yet), its body later.
    const key = keyIn(q, half, 'split')
    const write = slowApply(node.port, 30, 1, encodeRecords([{key, version: formatHlc({wall: Date.now(), counter: 0, writer: 'u'}), value: Buffer.from('late')}]))
    await new Promise((r) => setTimeout(r, 100))
    // A re-read of the parent, read before the split and answered after it (a slow etcd):
    // here set off by a digest at an epoch the node has not seen.
    const gate = store.faults.hold({op: 'get', key: keys.shard(30), when: 'after'})
    const early = codeOf(node.client.digest(30, 2))
    await gate.reached

    // The split (no barrier), then the barrier of a move of the upper half: its accept makes
    // the node read shard 31, and waits for no write (the slow one is not admitted yet).
    await admin.put(keys.shard(30), JSON.stringify({...parent, range: {lo: 0, hi: q}, epoch: 2}))
    await admin.put(keys.shard(31), JSON.stringify({id: 31, range: {lo: q, hi: half}, epoch: 3, replicas: [{node: 'me', role: 'voter'}, {node: 'other', role: 'joining'}]}))
    expect((await node.client.accept(31, 3)).epoch).toBe(3)

    // The body arrives: the last fence check finds the parent (whole range, epoch 1) overlapping 31 and re-reads it.
    write.sendBody()
    await new Promise((r) => setTimeout(r, 100)) // the write is at its re-read
    gate.release()

    expect(await early).toBe('BAD_INPUT') // the old read: etcd said epoch 1
    // Had it shared that read, it would have been committed and acknowledged at epoch 1 after the barrier.
    const answered = await write.answer
    expect(answered.status).toBe(409)
    expect(answered.body).toContain('STALE_EPOCH')
    expect((await node.client.get(31, 3, key)).record).toBeUndefined()
  })
})
