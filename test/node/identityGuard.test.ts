import {createServer, type Server} from 'node:http'
import {type AddressInfo, createServer as createTcpServer, type Socket} from 'node:net'
import {afterEach, describe, expect, it} from 'vitest'
import {makeServiceContext, type ServiceContext} from '../../src/cluster/serviceContext.js'
import {type Alive} from '../../src/model/node.js'
import {type HolderProbe} from '../../src/node/identityClaim.js'
import {type IdentityGuardOptions, probeHolder, resolveIdentityClaim, Superseded} from '../../src/node/identityGuard.js'
import {startingHandler} from '../../src/node/nodeHttpApi.js'
import {MemoryStore} from '../../src/store/memoryStore.js'

const closers: (() => Promise<void>)[] = []
afterEach(async () => {
  await Promise.all(closers.splice(0).map((c) => c()))
})

function setup(): {ctx: ServiceContext; store: MemoryStore; logs: string[]; probes: string[]; opts: (probe: HolderProbe, over?: Partial<IdentityGuardOptions>) => IdentityGuardOptions} {
  const store = new MemoryStore()
  closers.push(async () => store.close())
  const ctx = makeServiceContext(store, {cluster: 'c1'})
  const logs: string[] = []
  const probes: string[] = []
  const log = {info: (m: string) => logs.push(m), warn: (m: string) => logs.push(m), error: (m: string) => logs.push(m)}
  const opts = (probe: HolderProbe, over: Partial<IdentityGuardOptions> = {}): IdentityGuardOptions => ({
    node: 'n1',
    instance: 'me',
    leaseTtlSeconds: 1,
    log,
    probe: async (address) => {
      probes.push(address)
      return probe
    },
    ...over,
  })
  return {ctx, store, logs, probes, opts}
}

const holder = (over: Partial<Alive> = {}): string => JSON.stringify({node: 'n1', address: '10.0.0.1:7001', pid: 4242, startedAt: '2026-12-04T06:00:00.000Z', instance: 'other', leaseTtlSeconds: 1, ...over} satisfies Alive)

async function putHeld(t: ReturnType<typeof setup>, value = holder()): Promise<{lease: string; modRevision: bigint}> {
  const lease = await t.store.grantLease(30)
  closers.push(() => lease.revoke())
  const modRevision = await t.store.put(t.ctx.keys.alive('n1'), value, lease.id)
  return {lease: lease.id, modRevision}
}

describe('resolveIdentityClaim', () => {
  it('claims an absent key without asking anyone', async () => {
    const t = setup()
    expect(await resolveIdentityClaim(t.ctx, t.opts({kind: 'refused'}))).toBe(0n)
    expect(t.probes).toEqual([])
  })

  it('claims its own key (re-registering after a lapsed lease) without probing: it would answer as itself', async () => {
    const t = setup()
    const {modRevision} = await putHeld(t, holder({instance: 'me'}))
    expect(await resolveIdentityClaim(t.ctx, t.opts({kind: 'answered', node: 'n1', instance: 'me'}))).toBe(modRevision)
    expect(t.probes).toEqual([])
  })

  it('re-registering, throws Superseded (LOCK_HELD) over a dead holder without probing or waiting, and writes nothing', async () => {
    const t = setup()
    const {modRevision} = await putHeld(t)
    const err = await resolveIdentityClaim(t.ctx, t.opts({kind: 'refused'}, {recovering: true})).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Superseded)
    expect(err).toMatchObject({code: 'LOCK_HELD', message: expect.stringMatching(/^node n1 is served by another process now in cluster "c1": pid 4242 at 10\.0\.0\.1:7001 .* claimed alive\/n1 after this process's lease lapsed/)})
    expect(t.probes).toEqual([])
    expect((await t.store.get(t.ctx.keys.alive('n1')))?.modRevision).toBe(modRevision)
    // Its own key or none it claims as before.
    await t.store.delete(t.ctx.keys.alive('n1'))
    expect(await resolveIdentityClaim(t.ctx, t.opts({kind: 'refused'}, {recovering: true}))).toBe(0n)
  })

  it('refuses with LOCK_HELD naming pid and address while the holder answers as itself, and writes nothing', async () => {
    const t = setup()
    const {modRevision} = await putHeld(t)
    await expect(resolveIdentityClaim(t.ctx, t.opts({kind: 'answered', node: 'n1', instance: 'other'}))).rejects.toMatchObject({
      code: 'LOCK_HELD',
      message: 'node n1 is already running in cluster "c1": pid 4242 at 10.0.0.1:7001 (registered 2026-12-04T06:00:00.000Z) holds alive/n1 and answers as it; this process changed nothing',
      hint: expect.stringMatching(/^stop that process first/),
    })
    expect(t.probes).toEqual(['10.0.0.1:7001'])
    expect((await t.store.get(t.ctx.keys.alive('n1')))?.modRevision).toBe(modRevision)
  })

  it('takes over the key of a holder whose address refuses connections, at once, comparing on its revision', async () => {
    const t = setup()
    const {modRevision} = await putHeld(t)
    expect(await resolveIdentityClaim(t.ctx, t.opts({kind: 'refused'}))).toBe(modRevision)
    expect(t.logs.join('\n')).toMatch(/left by a process that is gone: taking it over/)
  })

  it('waits for a silent holder: once its lease is revoked (the key gone) it claims the absent key', async () => {
    const t = setup()
    const {lease} = await putHeld(t)
    const claim = resolveIdentityClaim(t.ctx, t.opts({kind: 'silent', detail: 'timed out'}))
    await new Promise((r) => setTimeout(r, 300))
    await t.store.revokeLease(lease)
    expect(await claim).toBe(0n)
    expect(t.logs.join('\n')).toMatch(/does not answer \(timed out\): waiting up to 3000 ms for its lease to lapse/)
  })

  it('refuses a silent holder whose key outlives the wait, writing nothing', async () => {
    const t = setup()
    await putHeld(t)
    await expect(resolveIdentityClaim(t.ctx, t.opts({kind: 'silent', detail: 'timed out'}))).rejects.toMatchObject({code: 'LOCK_HELD', message: expect.stringMatching(/^node n1 may still be running in cluster "c1": pid 4242 at 10\.0\.0\.1:7001 .* does not answer \(timed out; frozen or partitioned\?\)/)})
  }, 10_000)

  it('waits for a holder that says it is stopping: once it revoked its lease it claims the absent key and says the holder stopped', async () => {
    const t = setup()
    const {lease} = await putHeld(t)
    let stopped = 0
    const claim = resolveIdentityClaim(t.ctx, t.opts({kind: 'answered', node: 'n1', instance: 'other', stopping: true}, {onHolderStopped: () => stopped++}))
    await new Promise((r) => setTimeout(r, 300))
    expect(stopped).toBe(0)
    await t.store.revokeLease(lease)
    expect(await claim).toBe(0n)
    expect(stopped).toBe(1)
    expect(t.logs.join('\n')).toMatch(/held by pid 4242 at 10\.0\.0\.1:7001 .*, which is shutting down: waiting up to 3000 ms for it to finish its in-flight writes and give up its lease/)
  })

  it('refuses a stopping holder that still holds its key after the wait, writing nothing', async () => {
    const t = setup()
    const {modRevision} = await putHeld(t)
    await expect(resolveIdentityClaim(t.ctx, t.opts({kind: 'answered', node: 'n1', instance: 'other', stopping: true}))).rejects.toMatchObject({
      code: 'LOCK_HELD',
      message: expect.stringMatching(/^node n1 is still shutting down in cluster "c1": pid 4242 at 10\.0\.0\.1:7001 .* answers that it is stopping, but did not give up its lease within the wait; this process changed nothing$/),
      hint: expect.stringMatching(/^wait for that process to exit/),
    })
    expect((await t.store.get(t.ctx.keys.alive('n1')))?.modRevision).toBe(modRevision)
  }, 10_000)

  it('stops waiting when start-up is aborted', async () => {
    const t = setup()
    await putHeld(t)
    const abort = new AbortController()
    const claim = resolveIdentityClaim(t.ctx, t.opts({kind: 'silent', detail: 'timed out'}, {abort: abort.signal, onAbort: () => new Error('aborted by test')}))
    abort.abort()
    await expect(claim).rejects.toThrow('aborted by test')
  })
})

async function listenHttp(handler: Parameters<typeof createServer>[1]): Promise<{server: Server; address: string}> {
  const server = createServer(handler)
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
  closers.push(() => new Promise((r) => {
    server.closeAllConnections()
    server.close(() => r())
  }))
  return {server, address: `127.0.0.1:${(server.address() as AddressInfo).port}`}
}

describe('probeHolder', () => {
  it('reads the node id and instance a node answers /healthz with', async () => {
    const {address} = await listenHttp((_req, res) => res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({node: 'n1', serving: true, instance: 'abc'})))
    expect(await probeHolder(address, 'n1')).toEqual({kind: 'answered', node: 'n1', instance: 'abc'})
  })

  it('reads that a node is stopping from its health answer', async () => {
    const {address} = await listenHttp((_req, res) => res.writeHead(200, {'content-type': 'application/json'}).end(JSON.stringify({node: 'n1', serving: false, instance: 'abc', stopping: true})))
    expect(await probeHolder(address, 'n1')).toEqual({kind: 'answered', node: 'n1', instance: 'abc', stopping: true})
  })

  it('reads the instance of a node still starting (its listener opens before its API: startingHandler), which refuses data requests 503', async () => {
    const {address} = await listenHttp(startingHandler('n1', 'starting-instance'))
    expect(await probeHolder(address, 'n1')).toEqual({kind: 'answered', node: 'n1', instance: 'starting-instance'})
    const res = await fetch(`http://${address}/v1/stats`, {method: 'GET'})
    expect(res.status).toBe(503)
    expect(await res.json()).toMatchObject({code: 'NOT_SERVING'})
  })

  it('probes an IPv6 holder at its bracketed advertised address ([::1]:port): answered while it listens, refused once closed', async () => {
    const server = createServer(startingHandler('n1', 'v6-instance'))
    await new Promise<void>((r) => server.listen(0, '::1', r))
    const address = `[::1]:${(server.address() as AddressInfo).port}`
    expect(await probeHolder(address, 'n1')).toEqual({kind: 'answered', node: 'n1', instance: 'v6-instance'})
    server.closeAllConnections()
    await new Promise((r) => server.close(r))
    expect(await probeHolder(address, 'n1')).toEqual({kind: 'refused'})
  })

  it('says refused when nothing listens at the address (a dead holder)', async () => {
    const {server, address} = await listenHttp(() => {})
    await new Promise((r) => server.close(r))
    expect(await probeHolder(address, 'n1')).toEqual({kind: 'refused'})
  })

  it('says silent when the address accepts but never answers (a frozen holder: the kernel still accepts)', async () => {
    const sockets: Socket[] = []
    const tcp = createTcpServer((s) => sockets.push(s))
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', r))
    closers.push(() => new Promise((r) => {
      for (const s of sockets) s.destroy()
      tcp.close(() => r())
    }))
    const probe = await probeHolder(`127.0.0.1:${(tcp.address() as AddressInfo).port}`, 'n1', 300)
    expect(probe.kind).toBe('silent')
  })

  it('says silent when the address answers something that is not a node health', async () => {
    const {address} = await listenHttp((_req, res) => res.writeHead(502).end('bad gateway'))
    expect((await probeHolder(address, 'n1')).kind).toBe('silent')
  })
})
