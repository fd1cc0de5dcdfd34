import {describe, expect, it} from 'vitest'
import {makeServiceContext} from '../../src/cluster/serviceContext.js'
import {NodeMarkSchema} from '../../src/model/node.js'
import {WriteMarkPublisher} from '../../src/node/writeMarkPublisher.js'
import {MemoryStore} from '../../src/store/memoryStore.js'
import {engineFixture, rec, v} from './engineFixture.js'

const open = engineFixture('writemark', {})

/** setUp: a real engine, a memory store holding this process's claims/n1, and a publisher comparing on its revision. */
async function setUp() {
  const {engine, dir} = open()
  const ctx = makeServiceContext(new MemoryStore(), {cluster: 'marks'}, () => new Date('2026-12-04T18:00:00Z'))
  const claimed = await ctx.store.put(ctx.keys.claim('n1'), JSON.stringify({node: 'n1', dataDirId: engine.dataDirId(), instance: 'me'}))
  let claimRevision: bigint | undefined = claimed
  let publishedAtClaim = 0
  const marks = new WriteMarkPublisher({ctx, node: 'n1', engine, claimRevision: () => claimRevision, published: () => publishedAtClaim})
  const published = async () => (await ctx.store.getTyped(ctx.keys.mark('n1'), NodeMarkSchema))?.value
  const write = async (key: string) => {
    await engine.apply([rec(key, v(1), 'x')])
    marks.committed()
  }
  return {engine, dir, ctx, marks, published, write, setClaimRevision: (r: bigint | undefined) => (claimRevision = r), setPublishedAtClaim: (m: number) => (publishedAtClaim = m)}
}

describe('WriteMarkPublisher', () => {
  it('publishes only after commits (or when forced), each time one above the last, the dir holding the mark before etcd does', async () => {
    const {engine, marks, published, write} = await setUp()
    expect(await marks.publish()).toMatchObject({mark: 1}) // the first publish: nothing published yet counts as a change
    expect(await marks.publish()).toBeUndefined() // idle: nothing written to etcd
    await write('a')
    const second = await marks.publish()
    expect(second).toEqual({node: 'n1', dataDirId: engine.dataDirId(), mark: 2, at: '2026-12-04T18:00:00.000Z'})
    expect(await published()).toEqual(second)
    expect(engine.writeMark()).toBe(2)
    expect(await marks.publish(true)).toMatchObject({mark: 3})
    expect(engine.writeMark()).toBeGreaterThanOrEqual((await published())!.mark)
  })

  it('a dir below the mark published before it registered raises its own above it (never sets the published mark down)', async () => {
    const {engine, marks, published, write, setPublishedAtClaim} = await setUp()
    setPublishedAtClaim(10)
    expect(await marks.publish(true)).toMatchObject({mark: 11})
    expect(engine.writeMark()).toBe(11)
    await write('a')
    expect(await marks.publish()).toMatchObject({mark: 12})
    expect((await published())!.mark).toBe(12)
  })

  it('a dir accepted below the published mark whose forced publish fails is above that mark anyway (its next start is not refused)', async () => {
    const {ctx, engine, marks, published, setPublishedAtClaim} = await setUp()
    await ctx.store.put(ctx.keys.mark('n1'), JSON.stringify({node: 'n1', dataDirId: engine.dataDirId(), mark: 10, at: '2026-12-04T17:00:00.000Z'}))
    setPublishedAtClaim(10)
    // The publish's transaction fails (here: its claim compare; an unreachable etcd alike): the raise stays.
    await ctx.store.put(ctx.keys.claim('n1'), JSON.stringify({node: 'n1', dataDirId: engine.dataDirId(), instance: 'me'}))
    expect(await marks.publish(true)).toBeUndefined()
    expect((await published())!.mark).toBe(10)
    expect(engine.writeMark()).toBeGreaterThan(10)
  })

  it('overlapping calls make one publish', async () => {
    const {engine, marks, write} = await setUp()
    await write('a')
    const [a, b] = await Promise.all([marks.publish(), marks.publish()])
    expect(a).toEqual(b)
    expect(engine.writeMark()).toBe(1)
  })

  it('publishes nothing once claims/<id> is another process\'s (or before this one registered)', async () => {
    const {ctx, marks, published, write, setClaimRevision} = await setUp()
    setClaimRevision(undefined)
    await write('a')
    expect(await marks.publish()).toBeUndefined()
    setClaimRevision(await ctx.store.put(ctx.keys.claim('n1'), JSON.stringify({node: 'n1', dataDirId: 'd', instance: 'me'})))
    // Nothing was raised while unregistered: the first publish is mark 1.
    expect(await marks.publish()).toMatchObject({mark: 1})
    // Another process claims the id: its claims/n1 has a new revision this one's compare fails on.
    await ctx.store.put(ctx.keys.claim('n1'), JSON.stringify({node: 'n1', dataDirId: 'd', instance: 'other'}))
    await write('b')
    expect(await marks.publish()).toBeUndefined()
    expect((await published())!.mark).toBe(1)
  })

  it('cover publishes a mark above every counted commit, once per uncovered commit (none when all are covered), and rejects when nothing could be published', async () => {
    const {ctx, engine, marks, published, write} = await setUp()
    // A new process has published nothing: its dir may hold commits of an earlier one.
    await marks.cover()
    expect((await published())!.mark).toBe(1)
    await marks.cover()
    expect((await published())!.mark).toBe(1)
    await write('a')
    await Promise.all([marks.cover(), marks.cover()])
    expect((await published())!.mark).toBe(2)
    expect(engine.writeMark()).toBe(2)
    // A publish running since before a commit does not cover it: cover waits for it and publishes again.
    await write('b')
    const running = marks.publish()
    await write('c')
    await marks.cover()
    await running
    expect((await published())!.mark).toBe(4)
    // Another process took the id: nothing published, so cover rejects (a purge must not go on).
    await ctx.store.put(ctx.keys.claim('n1'), JSON.stringify({node: 'n1', dataDirId: engine.dataDirId(), instance: 'other'}))
    await write('d')
    await expect(marks.cover()).rejects.toThrow(/was not published/)
  })

  it('cover counts a commit still on its way back from the writer (counted as the node counts: on the writer\'s reply), so a fence answered right after a write covers it', async () => {
    // Wired as the node wires it (storageNode.ts): the engine's onCommit counts, on the writer's reply.
    let marks!: WriteMarkPublisher
    const {engine} = open({onCommit: () => marks.committed()})
    const ctx = makeServiceContext(new MemoryStore(), {cluster: 'marks'}, () => new Date('2026-12-04T18:00:00Z'))
    const claimRevision = await ctx.store.put(ctx.keys.claim('n1'), JSON.stringify({node: 'n1', dataDirId: engine.dataDirId(), instance: 'me'}))
    marks = new WriteMarkPublisher({ctx, node: 'n1', engine, claimRevision: () => claimRevision, published: () => 0})
    const published = async () => (await ctx.store.getTyped(ctx.keys.mark('n1'), NodeMarkSchema))?.value?.mark
    await marks.cover()
    expect(await published()).toBe(1)

    // A delete queued (as a fence's digest already waited for it) but not yet answered: its count is not in yet.
    const write = engine.apply([rec('gone', v(1), null)])
    await marks.cover()

    // The raise came after the delete's commit: a copy of the dir lacking it is below the published mark.
    expect(await published()).toBe(2)
    await write
    await marks.cover()
    expect(await published()).toBe(2)
  })

  it('the dir keeps its mark across a reopen', async () => {
    const {engine, dir, marks, write} = await setUp()
    await write('a')
    await marks.publish()
    await marks.publish(true)
    await engine.close()
    expect(open({}, dir).engine.writeMark()).toBe(2)
  })

  it('cover raises the mark as part of a purge (it may spend the disk reserve); the periodic publish does not', async () => {
    const {engine, marks, write} = await setUp()
    const purposes: boolean[] = []
    const raise = engine.raiseWriteMark.bind(engine)
    engine.raiseWriteMark = (atLeast?: number, forPurge?: boolean) => (purposes.push(forPurge ?? false), raise(atLeast, forPurge))
    await write('a')
    await marks.publish()
    await write('b')
    await marks.cover()
    expect(purposes).toEqual([false, true])
  })
})
