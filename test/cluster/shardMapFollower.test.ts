import {EventEmitter} from 'node:events'
import {describe, expect, it} from 'vitest'
import {ShardMapFollower} from '../../src/cluster/shardMapFollower.js'
import {type ServiceContext} from '../../src/cluster/serviceContext.js'
import {keysOf} from '../../src/etcd/keys.js'
import {type Shard} from '../../src/model/shard.js'

const keys = keysOf('c')
const shard = (id: number, epoch: number): Shard => ({id, range: {lo: id * 10, hi: id * 10 + 10}, epoch, replicas: [{node: 'a', role: 'voter'}]})
const kv = (s: Shard, mod: number) => ({key: keys.shard(s.id), value: JSON.stringify(s), modRevision: BigInt(mod), createRevision: 1n, lease: '0'})

/** fakeContext: listings are answered from `listings` in order; the watch is an emitter the test drives. */
function fakeContext(listings: {items: ReturnType<typeof kv>[]; revision: bigint}[]) {
  const watcher = Object.assign(new EventEmitter(), {cancel: () => Promise.resolve()})
  const builder = {inRange: () => builder, startRevision: () => builder, watcher: () => watcher}
  const store = {
    list: () => Promise.resolve(listings.shift()!),
    getAt: () => Promise.resolve({kv: undefined, revision: 0n}),
    client: {watch: () => builder},
  }
  const ctx = {store, cluster: 'c', keys, clock: () => new Date(0)} as unknown as ServiceContext
  const put = (s: Shard, mod: number) => watcher.emit('put', {key: Buffer.from(keys.shard(s.id)), value: Buffer.from(JSON.stringify(s)), mod_revision: String(mod)})
  return {ctx, put}
}

describe('ShardMapFollower', () => {
  it('Given a watch event newer than a re-listing, When the re-listing lands, Then the shard stays at the newer epoch and the revision does not go back', async () => {
    const {ctx, put} = fakeContext([
      {items: [kv(shard(1, 1), 5)], revision: 10n},
      {items: [kv(shard(1, 1), 5)], revision: 10n}, // a resync read before the epoch bump committed
    ])
    let changes = 0
    const f = new ShardMapFollower(ctx, {onChange: () => changes++})
    await f.start()
    put(shard(1, 2), 11)
    expect(f.get(1)?.epoch).toBe(2)
    const v = f.version()
    await f.resync()
    expect(f.get(1)?.epoch).toBe(2)
    expect(f.mapRevision()).toBe(11n)
    expect(f.version()).toBe(v) // nothing changed: a cached routing table stays valid
    await Promise.resolve()
    expect(changes).toBeGreaterThan(0)
    await f.stop()
  })

  it('Given a corrupt value, Then it is reported, never served, and its revision still counts as seen', async () => {
    const {ctx} = fakeContext([{items: [kv(shard(1, 1), 5)], revision: 10n}])
    const invalid: string[] = []
    const f = new ShardMapFollower(ctx, {onInvalid: (key) => invalid.push(key)})
    await f.start()
    const w = (ctx.store as unknown as {client: {watch: () => {watcher: () => EventEmitter}}}).client.watch().watcher()
    w.emit('put', {key: Buffer.from(keys.shard(1)), value: Buffer.from('{"id":1'), mod_revision: '12'})
    expect(invalid).toEqual([keys.shard(1)])
    expect(f.get(1)?.epoch).toBe(1)
    expect(f.mapRevision()).toBe(12n)
    await f.stop()
  })
})
