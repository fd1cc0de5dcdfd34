import {createServer} from 'node:http'
import {type AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {HASH_SPACE, keyHash} from '../../src/model/hash.js'
import {type Shard} from '../../src/model/shard.js'
import {NodeClient} from '../../src/node/nodeClient.js'
import {isNodeRequestError} from '../../src/node/nodeRequestError.js'
import {BUCKETS_ANSWERED_HEADER, type NodeRecord, RECORDS_CONTENT_TYPE, TOKEN_HEADER} from '../../src/node/protocol.js'
import {encodedRecordSize, encodeRecords, RECORD_BATCH_HEADER} from '../../src/node/recordCodec.js'
import {type InProcessNode, startInProcessNode} from '../support/inProcessNode.js'
import {recordsIn} from '../support/nodeTestData.js'
import {StaticShardMap} from '../support/staticShardMap.js'

/**
 * POST /v1/shards/{id}/buckets on a node serving for real in this process, with its storage
 * threads (writerThread: true): listings are read in the copy reader thread, and bounded
 * by `maxBytes` at whole buckets.
 */

const TOKEN = 'bucket-listing-token-0123456789'
const half = HASH_SPACE / 2
const LOWER: Shard = {id: 0, range: {lo: 0, hi: half}, epoch: 2, replicas: [{node: 'me', role: 'voter'}]}
const UPPER: Shard = {id: 1, range: {lo: half, hi: HASH_SPACE}, epoch: 1, replicas: [{node: 'me', role: 'voter'}]}
const ALL_BUCKETS = [...Array(256).keys()]

let node: InProcessNode

async function post(shard: Shard, body: unknown): Promise<Response> {
  return fetch(`http://127.0.0.1:${node.port}/v1/shards/${shard.id}/buckets?epoch=${shard.epoch}`, {method: 'POST', headers: {[TOKEN_HEADER]: TOKEN, 'content-type': 'application/json'}, body: JSON.stringify(body)})
}

const keysOf = (records: readonly NodeRecord[]) => records.map((r) => r.key.toString()).sort()

beforeAll(async () => {
  node = await startInProcessNode({map: new StaticShardMap('me', [LOWER, UPPER]), token: TOKEN, tombstoneGraceMs: 3_600_000, timeoutMs: 20_000, dirPrefix: 'shardctl-buckets-', writerThread: true})
  // About 1.2 MB over the lower shard's 256 buckets (a few KiB each), and a few records above.
  const lower = recordsIn(LOWER, 'low', 1200, 1000)
  for (let i = 0; i < lower.length; i += 200) await node.client.apply(LOWER.id, LOWER.epoch, lower.slice(i, i + 200), 'write')
  await node.client.apply(UPPER.id, UPPER.epoch, recordsIn(UPPER, 'up', 5, 10), 'write')
}, 60_000)

afterAll(() => node.close())

describe('POST /v1/shards/{id}/buckets', {timeout: 60_000}, () => {
  it('given no maxBytes (an older asker), when listing buckets, then every asked bucket is answered and the header says so', async () => {
    const res = await post(LOWER, {buckets: [7, 3, 3, 250]})
    expect(res.status).toBe(200)
    expect(res.headers.get(BUCKETS_ANSWERED_HEADER)).toBe('3')
    const all = await node.client.bucketRecords(LOWER.id, LOWER.epoch, ALL_BUCKETS)
    expect(all.answered).toEqual(ALL_BUCKETS)
    expect(all.records).toHaveLength(1200)
  })

  it('given maxBytes, when listing every bucket, then answers stop at whole buckets once past the bound, and re-asking the rest lists every record once', async () => {
    const digest = await node.client.digest(LOWER.id, LOWER.epoch)
    const bucketOf = (r: NodeRecord) => {
      const h = keyHash(r.key)
      return digest.bounds.findIndex((lo, i) => h >= lo && h < digest.bounds[i + 1]!)
    }
    const maxBytes = 50_000
    let pending = ALL_BUCKETS
    const listed: NodeRecord[] = []
    let answers = 0
    while (pending.length > 0) {
      const {records, answered} = await node.client.bucketRecords(LOWER.id, LOWER.epoch, pending, {maxBytes})
      answers++
      expect(answered).toEqual(pending.slice(0, answered.length))
      // Exactly the records of the answered buckets: none cut, none from beyond.
      const counted = answered.reduce((n, b) => n + digest.counts[b]!, 0)
      expect(records).toHaveLength(counted)
      expect(records.every((r) => answered.includes(bucketOf(r)))).toBe(true)
      // It stopped right after the bucket that took the answer to the bound (or ran out of buckets).
      const size = (rs: readonly NodeRecord[]) => rs.reduce((n, r) => n + encodedRecordSize(r), RECORD_BATCH_HEADER)
      const last = answered.at(-1)!
      const beforeLast = records.filter((r) => bucketOf(r) !== last)
      expect(size(beforeLast)).toBeLessThan(maxBytes)
      if (answered.length < pending.length) expect(size(records)).toBeGreaterThanOrEqual(maxBytes)
      listed.push(...records)
      pending = pending.slice(answered.length)
    }
    expect(answers).toBeGreaterThan(10)
    const whole = await node.client.bucketRecords(LOWER.id, LOWER.epoch, ALL_BUCKETS)
    expect(keysOf(listed)).toEqual(keysOf(whole.records))
  })

  it('given a bound below one bucket, then exactly one whole bucket is answered', async () => {
    const digest = await node.client.digest(LOWER.id, LOWER.epoch)
    const full = digest.counts.findIndex((n) => n > 1)
    const {records, answered} = await node.client.bucketRecords(LOWER.id, LOWER.epoch, [full, full + 1], {maxBytes: 1})
    expect(answered).toEqual([full])
    expect(records).toHaveLength(digest.counts[full]!)
  })

  it.each([0, -1, 1.5, '1000', null, 2 ** 60])('given maxBytes %j, then 400 BAD_INPUT names maxBytes on one line', async (maxBytes) => {
    const res = await post(LOWER, {buckets: [1], maxBytes})
    expect(res.status).toBe(400)
    const body = (await res.json()) as {code: string; message: string}
    expect(body.code).toBe('BAD_INPUT')
    expect(body.message).toBe('invalid request body: maxBytes: must be a positive integer number of bytes (omit it to list every asked bucket)')
  })
})

describe('NodeClient.bucketRecords', () => {
  it.each(['0', '3', 'x', '1.5'])('given a node answering %s of 2 asked buckets, then it refuses the answer (INTERNAL) instead of looping or skipping', async (answered) => {
    // A count of none would have a caller ask the same buckets forever; more than asked would name buckets never asked.
    const server = createServer((_req, res) => res.writeHead(200, {[BUCKETS_ANSWERED_HEADER]: answered, 'content-type': RECORDS_CONTENT_TYPE}).end(encodeRecords([])))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    const client = new NodeClient({node: 'liar', address: `127.0.0.1:${(server.address() as AddressInfo).port}`, token: TOKEN, timeoutMs: 5000})
    try {
      const err = await client.bucketRecords(0, 1, [4, 2], {maxBytes: 10}).then(
        () => undefined,
        (e: unknown) => e,
      )
      expect(isNodeRequestError(err, 'INTERNAL'), String(err)).toBe(true)
    } finally {
      await client.destroy()
      server.closeAllConnections()
      await new Promise((r) => server.close(r))
    }
  })
})

describe('a bucket listing and the event loop', {timeout: 120_000}, () => {
  it('given a large listing being read, when a client reads another shard meanwhile, then that read is answered before the listing', async () => {
    // About 48 MiB in the lower shard: read and encoded on the node's event loop, this would hold every other request.
    const big = recordsIn(LOWER, 'big', 3000, 16 * 1024)
    for (let i = 0; i < big.length; i += 100) await node.client.apply(LOWER.id, LOWER.epoch, big.slice(i, i + 100), 'write')
    const upperKey = recordsIn(UPPER, 'up', 1, 10)[0]!.key
    // The other read is sent the moment the node begins the listing's read.
    const original = node.engine.listBuckets.bind(node.engine)
    let began!: () => void
    const reading = new Promise<void>((resolve) => (began = resolve))
    node.engine.listBuckets = (...args) => {
      began()
      return original(...args)
    }
    try {
      const order: string[] = []
      // fetch settles at the listing's response headers: the node sends them only once the listing is read.
      const listing = post(LOWER, {buckets: ALL_BUCKETS}).then(async (res) => {
        order.push('listing')
        expect(res.headers.get(BUCKETS_ANSWERED_HEADER)).toBe('256')
        return (await res.arrayBuffer()).byteLength
      })
      const other = reading.then(async () => {
        const got = await node.client.get(UPPER.id, UPPER.epoch, upperKey)
        order.push('get')
        return got
      })
      const [bytes, got] = await Promise.all([listing, other])
      expect(bytes).toBeGreaterThan(48 * 1024 * 1024)
      expect(got.record?.value?.length).toBe(10)
      expect(order).toEqual(['get', 'listing'])
    } finally {
      node.engine.listBuckets = original
    }
  })
})
