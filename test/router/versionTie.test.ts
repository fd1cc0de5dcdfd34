import {describe, expect, it} from 'vitest'
import {formatHlc, HybridClock} from '../../src/model/hlc.js'
import {type ApplyKind, type ApplyResponse, type GetResult, type NodeRecord} from '../../src/node/protocol.js'
import {type StorageEngine} from '../../src/node/storageEngine.js'
import {Coordinator, type NodeDataApi} from '../../src/router/coordinator.js'
import {RoutingTable} from '../../src/router/routingTable.js'
import {engineFixture} from '../node/engineFixture.js'
import {shardOf} from './fixtures.js'

const open = engineFixture('router-tie', {writerThread: false})

/** EngineNode serves a coordinator from a real StorageEngine: the node's own LWW merge and apply answer, no epochs. */
class EngineNode implements NodeDataApi {
  constructor(readonly engine: StorageEngine) {}

  async get(_shard: number, epoch: number, key: Buffer): Promise<GetResult> {
    return {epoch, record: this.engine.get(key)}
  }

  async apply(_shard: number, epoch: number, records: readonly NodeRecord[], kind: ApplyKind = 'write'): Promise<ApplyResponse> {
    return {epoch, ...(await this.engine.apply(records, {clientWrite: kind === 'write'}))}
  }
}

/**
 * A router restarted under the id its previous incarnation used (the default `<host>-<pid>`
 * in a container restarted with the router as pid 1, or a fixed SHARDCTL_ROUTER_ID), whose
 * clock stepped back within the offset bound across the restart: its fresh HLC issues the
 * very version `X` under which the previous incarnation's acknowledged write is stored.
 */
function restartedRouter(wall: number) {
  const nodes = new Map(['a', 'b', 'c'].map((id) => [id, new EngineNode(open().engine)]))
  const shard = shardOf(0, 'a b c')
  const coordinator = new Coordinator({
    map: {table: () => RoutingTable.of([shard]), refresh: async () => {}},
    node: (id) => nodes.get(id),
    clock: new HybridClock('r1', () => wall),
    now: () => 0,
    options: {quorum: {}, nodeTimeoutMs: 100, requestTimeoutMs: 1000, staleRetries: 3},
  })
  const X = formatHlc({wall, counter: 0, writer: 'r1'})
  return {coordinator, nodes, X}
}

const k = (s: string) => Buffer.from(s)

describe('Coordinator: a write that ties with another record at its version', () => {
  it('Given an acknowledged value stored at version X on every replica, When a restarted router writes a smaller value and its clock issues X again, Then the write is re-issued above X and reads return it', async () => {
    const {coordinator, nodes, X} = restartedRouter(5000)
    for (const n of nodes.values()) await n.engine.apply([{key: k('x'), version: X, value: k('zz-previous-incarnation')}])
    const w = await coordinator.write(k('x'), k('aa-acknowledged-later'))
    // Acknowledged means it wins every later read: it must not be acknowledged at X, where 'zz…' wins the tie.
    expect(w.version > X).toBe(true)
    for (let i = 0; i < 3; i++) expect((await coordinator.read(k('x'))).record?.value?.toString()).toBe('aa-acknowledged-later')
  })

  it('Given an acknowledged delete stored at version X, When a restarted router writes a value at X, Then the value is re-issued above the tombstone and reads return it', async () => {
    const {coordinator, nodes, X} = restartedRouter(5000)
    for (const n of nodes.values()) await n.engine.apply([{key: k('x'), version: X, value: null}])
    const w = await coordinator.write(k('x'), k('after-the-delete'))
    expect(w.version > X).toBe(true)
    expect((await coordinator.read(k('x'))).record?.value?.toString()).toBe('after-the-delete')
  })

  it('Given the identical record already stored at X (a retry of this very write), When written, Then it is acknowledged at X without a re-issue', async () => {
    const {coordinator, nodes, X} = restartedRouter(5000)
    for (const n of nodes.values()) await n.engine.apply([{key: k('x'), version: X, value: k('same')}])
    const w = await coordinator.write(k('x'), k('same'))
    expect(w.version).toBe(X)
  })
})
