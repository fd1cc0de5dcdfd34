import {describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {type ApplyOptions} from '../../src/node/nodeClient.js'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'
import {type ApplyKind, type NodeRecord} from '../../src/node/protocol.js'
import {deliveryFailure, hintDelivery} from '../../src/router/hintDelivery.js'
import {type HintBatch} from '../../src/router/hintQueue.js'
import {FakeNode} from './fakeNode.js'

const rec = (key: string, wall: number): NodeRecord => ({key: Buffer.from(key), version: formatHlc({wall, counter: 0, writer: 'r1'}), value: Buffer.from('v')})
const batch = (node: string, epoch = 1): HintBatch => ({node, shard: 0, epoch, records: [rec('x', 1000), rec('y', 1001)]})

describe('hintDelivery', () => {
  it('Given a known node, When a batch is delivered, Then it is one write apply of its records at its shard and epoch, marked a replay, bounded by the timeout', async () => {
    const node = new FakeNode('b')
    const calls: {shard: number; epoch: number; keys: string[]; kind?: ApplyKind; opts?: ApplyOptions}[] = []
    const spy = {
      apply: (shard: number, epoch: number, records: readonly NodeRecord[], kind?: ApplyKind, opts?: ApplyOptions) => {
        calls.push({shard, epoch, keys: records.map((r) => r.key.toString()), kind, opts})
        return node.apply(shard, epoch, records, kind)
      },
    }
    const deliver = hintDelivery({node: (id) => (id === 'b' ? spy : undefined), timeoutMs: 750})
    expect(await deliver(batch('b'))).toBe('delivered')
    expect(calls).toEqual([{shard: 0, epoch: 1, keys: ['x', 'y'], kind: 'write', opts: {timeoutMs: 750, replay: true}}])
    expect(node.records.size).toBe(2)
  })

  it('Given a node with no known address, Then the batch is retried later and nothing is sent', async () => {
    const deliver = hintDelivery({node: () => undefined, timeoutMs: 750})
    expect(await deliver(batch('gone'))).toBe('retry')
  })

  it('Given a failing apply, Then the outcome is its classification and the delivery does not reject', async () => {
    const fenced = new FakeNode('b')
    fenced.epoch = 2
    expect(await hintDelivery({node: () => fenced, timeoutMs: 750})(batch('b', 1))).toBe('fenced')
    const down = new FakeNode('c')
    down.down = true
    expect(await hintDelivery({node: () => down, timeoutMs: 750})(batch('c'))).toBe('retry')
  })
})

describe('deliveryFailure', () => {
  const err = (code: ConstructorParameters<typeof NodeRequestError>[0]) => new NodeRequestError(code, 'x', 'n1', 0)
  it('classifies node refusals', () => {
    expect(deliveryFailure(err('STALE_EPOCH'))).toBe('fenced')
    expect(deliveryFailure(err('NOT_OWNER'))).toBe('fenced')
    expect(deliveryFailure(err('PRECONDITION'))).toBe('rejected')
    expect(deliveryFailure(err('UNAUTHORIZED'))).toBe('rejected')
    expect(deliveryFailure(err('NODE_UNREACHABLE'))).toBe('retry')
    expect(deliveryFailure(err('NOT_SERVING'))).toBe('retry')
    expect(deliveryFailure(new Error('socket hang up'))).toBe('retry')
  })
})
