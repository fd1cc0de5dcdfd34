import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {Pool} from 'undici'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {getShard} from '../../../src/cluster/clusterRepo.js'
import {formatHlc} from '../../../src/model/hlc.js'
import {type Shard, ShardSchema} from '../../../src/model/shard.js'
import {MAX_VALUE_BYTES} from '../../../src/node/protocol.js'
import {encodeKeyPath} from '../../../src/router/keyPath.js'
import {RouterRecordSchema} from '../../../src/router/routerRegistration.js'
import {runCli} from '../../support/runCli.js'
import {DataPlane, keyFor, kv, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

let dp: DataPlane
let router: RouterProcess
let cwd: string
let shards: Shard[]

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-router-cli-'))
  dp = new DataPlane(inject('etcdEndpoint'), 'router')
  await dp.init(3, 4, 3)
  shards = await dp.shards()
  // A 10 s lease: the stale-epoch test freezes this router (SIGSTOP) and must not lose its lease while frozen on a loaded machine.
  router = await dp.startRouter('r1', ['--lease-ttl', '10'])
})

afterAll(async () => {
  await dp?.teardown()
  rmSync(cwd, {recursive: true, force: true})
})

async function metric(name: string): Promise<number> {
  const text = await (await fetch(`http://${router.address}/metrics`)).text()
  let sum = 0
  for (const line of text.split('\n')) if (line.startsWith(name)) sum += Number(line.slice(line.lastIndexOf(' ') + 1))
  return sum
}

async function bumpEpoch(id: number): Promise<Shard> {
  const cur = await getShard(dp.ctx, id)
  const next = ShardSchema.parse({...cur.value, epoch: cur.value.epoch + 1})
  await dp.ctx.store.update(dp.ctx.keys.shard(id), JSON.stringify(next), cur.modRevision)
  return next
}

const cli = (args: string[]) => runCli([...args, '--endpoints', dp.endpoint, '--cluster', dp.cluster], {cwd, timeoutMs: 60_000})

describe('router at rf 3: quorum reads and writes', () => {
  it('a write reaches every replica and reads back through the router with its version', async () => {
    const s = shards[0]!
    const key = keyFor(s, 'hello')
    const put = await kv(router.address, 'PUT', key, 'world')
    expect(put.status).toBe(204)
    expect(put.version).toMatch(/^\d{15}\.\d{6}\.r1$/)
    const got = await kv(router.address, 'GET', key)
    expect(got.status).toBe(200)
    expect(got.body.toString()).toBe('world')
    expect(got.version).toBe(put.version)
    // every replica has it (the third ack may land just after the response)
    for (const r of s.replicas) {
      const rec = await waitFor(async () => (await dp.client(r.node).get(s.id, s.epoch, Buffer.from(key))).record ?? undefined, `${key} on ${r.node}`)
      expect(rec.version).toBe(put.version)
    }
  })

  it('binary keys and values round-trip; 1 MiB is accepted, one byte more is 413', async () => {
    const key = Buffer.from([0, 1, 0xff, 0x2f, 0x25, 0x20])
    const value = Buffer.from([0, 255, 13, 10, 0, 128])
    const path = `http://${router.address}/kv/${encodeKeyPath(key)}`
    expect((await fetch(path, {method: 'PUT', body: value})).status).toBe(204)
    const res = await fetch(path)
    expect(res.status).toBe(200)
    expect(Buffer.from(await res.arrayBuffer()).equals(value)).toBe(true)
    const big = Buffer.alloc(MAX_VALUE_BYTES, 7)
    expect((await kv(router.address, 'PUT', 'big', big)).status).toBe(204)
    expect((await kv(router.address, 'GET', 'big')).body.equals(big)).toBe(true)
    const over = await kv(router.address, 'PUT', 'big', Buffer.alloc(MAX_VALUE_BYTES + 1))
    expect(over.status).toBe(413)
    expect(over.json).toMatchObject({code: 'TOO_LARGE'})
    expect((await kv(router.address, 'GET', 'big')).body.equals(big)).toBe(true)
  })

  it('delete writes a tombstone: 404 with the tombstone version; absent keys 404 without one', async () => {
    await kv(router.address, 'PUT', 'doomed', 'x')
    const del = await kv(router.address, 'DELETE', 'doomed')
    expect(del.status).toBe(204)
    expect(del.removedValue).toBe('true')
    const got = await kv(router.address, 'GET', 'doomed')
    expect(got.status).toBe(404)
    expect(got.version).toBe(del.version)
    // Deleting again (or a key never written) still succeeds, and says no value was there.
    const again = await kv(router.address, 'DELETE', 'doomed')
    expect(again.status).toBe(204)
    expect(again.removedValue).toBe('false')
    expect((await kv(router.address, 'DELETE', 'never-written-either')).removedValue).toBe('false')
    const none = await kv(router.address, 'GET', 'never-written')
    expect(none.status).toBe(404)
    expect(none.version).toBeNull()
    expect(none.json).toMatchObject({code: 'NOT_FOUND'})
  })

  it('unknown routes are 404 JSON, never a stack trace; healthz and metrics answer', async () => {
    for (const [method, path] of [['GET', '/nope'], ['POST', '/kv/x'], ['GET', '/kv/'], ['GET', '/kv/%zz']] as const) {
      const res = await fetch(`http://${router.address}${path}`, {method})
      const text = await res.text()
      expect([400, 404]).toContain(res.status)
      expect(JSON.parse(text)).toHaveProperty('code')
      expect(text).not.toMatch(/\n\s+at /)
    }
    const health = await fetch(`http://${router.address}/healthz`)
    expect(health.status).toBe(200)
    expect(await health.json()).toMatchObject({router: 'r1', serving: true, shards: 4})
    expect(await metric('shardctl_router_requests_total')).toBeGreaterThan(0)
    const text = await (await fetch(`http://${router.address}/metrics`)).text()
    expect(text).toContain('shardctl_router_request_duration_seconds_bucket')
    expect(text).toContain('shardctl_router_quorum_failures_total')
    // Per-upstream-node latency, and stock Node.js process metrics under their standard names.
    expect(text).toMatch(/shardctl_router_upstream_request_duration_seconds_count\{node="n\d",op="(apply|get)"\} [1-9]/)
    expect(text).toMatch(/^process_cpu_seconds_total /m)
    expect(text).toMatch(/^nodejs_heap_size_used_bytes /m)
    expect(text).not.toContain('shardctl_router_process_')
  })

  it('registers under the leased routers/r1 with its map revision and the epoch of every shard', async () => {
    const kvs = await dp.ctx.store.get(dp.ctx.keys.router('r1'))
    expect(kvs?.lease).not.toBe('0')
    const reg = RouterRecordSchema.parse(JSON.parse(kvs!.value))
    expect(reg.address).toBe(router.address)
    expect(Object.keys(reg.epochs).sort()).toEqual(shards.map((s) => String(s.id)).sort())
    const {revision} = await dp.ctx.store.list(dp.ctx.keys.shardsPrefix)
    const maxMod = (await dp.ctx.store.list(dp.ctx.keys.shardsPrefix)).items.reduce((m, i) => (i.modRevision > m ? i.modRevision : m), 0n)
    expect(BigInt(reg.mapRevision)).toBeGreaterThanOrEqual(maxMod)
    expect(revision).toBeGreaterThanOrEqual(maxMod)
  })

  it('read repair: a replica left behind is brought up to the newest version by reads', async () => {
    const s = shards[1]!
    const key = keyFor(s, 'repair')
    await kv(router.address, 'PUT', key, 'v1')
    const [a, b, stale] = s.replicas.map((r) => r.node)
    // 'repair' kind: a client write stamped 1 s ahead would be refused beyond --max-clock-offset.
    const newer = {key: Buffer.from(key), version: formatHlc({wall: Date.now() + 1000, counter: 0, writer: 'test'}), value: Buffer.from('v2')}
    await dp.client(a!).apply(s.id, s.epoch, [newer], 'repair')
    await dp.client(b!).apply(s.id, s.epoch, [newer], 'repair')
    const before = await metric('shardctl_router_read_repairs_total{outcome="applied"}')
    for (let i = 0; i < 6; i++) {
      const got = await kv(router.address, 'GET', key)
      expect(got.body.toString()).toBe('v2') // any 2 of 3 include a newest copy
      expect(got.version).toBe(newer.version)
    }
    const repaired = await waitFor(async () => {
      const r = (await dp.client(stale!).get(s.id, s.epoch, Buffer.from(key))).record
      return r?.version === newer.version ? r : undefined
    }, `read repair of ${stale}`)
    expect(repaired.value?.toString()).toBe('v2')
    expect(await metric('shardctl_router_read_repairs_total{outcome="applied"}')).toBeGreaterThan(before)
  })

  it('a node refuses a stale epoch and the router refreshes and retries without a client error', async () => {
    const pool = new Pool(`http://${router.address}`, {connections: 1, pipelining: 1})
    try {
      const before = await metric('shardctl_router_stale_epoch_retries_total')
      let retried = false
      // The router learns epochs by watch; to catch it stale, freeze it (SIGSTOP), queue a
      // request on a kept-alive connection, bump the epoch and make every replica learn
      // it, then let the router go: it reads the queued request before the watch event.
      // Bounded: a few tries in case it handled the watch event first.
      for (let attempt = 0; attempt < 4 && !retried; attempt++) {
        const s = shards[2]!
        const key = keyFor(s, `stale-${attempt}`)
        await pool.request({method: 'GET', path: `/kv/${key}`}).then((r) => r.body.dump())
        router.signal('SIGSTOP')
        let pending: Promise<number>
        try {
          pending = pool.request({method: 'PUT', path: `/kv/${key}`, body: 'fenced'}).then(async (r) => {
            const text = await r.body.text()
            if (r.statusCode !== 204) process.stderr.write(`stale-epoch PUT answered ${r.statusCode}: ${text}\n`)
            return r.statusCode
          })
          await new Promise((r) => setTimeout(r, 100))
          const next = await bumpEpoch(s.id)
          for (const r of next.replicas) {
            const acc = await dp.client(r.node).accept(s.id, next.epoch)
            expect(acc.epoch).toBe(next.epoch)
          }
        } finally {
          router.signal('SIGCONT')
        }
        expect(await pending).toBe(204)
        const got = await kv(router.address, 'GET', key)
        expect(got.body.toString()).toBe('fenced')
        retried = (await metric('shardctl_router_stale_epoch_retries_total')) > before
      }
      expect(retried).toBe(true)
      // and the registration reports the new epoch (what an executor's barrier reads)
      const epoch = (await getShard(dp.ctx, shards[2]!.id)).value.epoch
      await waitFor(async () => {
        const reg = RouterRecordSchema.parse(JSON.parse((await dp.ctx.store.get(dp.ctx.keys.router('r1')))!.value))
        return reg.epochs[String(shards[2]!.id)] === epoch ? true : undefined
      }, 'registration at the new epoch')
    } finally {
      await pool.destroy()
    }
  })
})

describe('kv and stats commands', () => {
  it('kv put/get/del through --router and through the router registered in etcd', {timeout: 180_000}, async () => {
    const put = await cli(['kv', 'put', 'cli-key', 'cli-value', '--router', router.address])
    expect(put.code).toBe(0)
    expect(put.stdout).toMatch(/^OK cli-key \(9 bytes\) at version \d{15}\.\d{6}\.r1/)
    const get = await cli(['kv', 'get', 'cli-key'])
    expect(get.code).toBe(0)
    expect(get.stdout).toBe('cli-value')
    const json = await cli(['kv', 'get', 'cli-key', '--json'])
    expect(JSON.parse(json.stdout)).toMatchObject({key: 'cli-key', value: 'cli-value', router: router.address})
    const del = await cli(['kv', 'del', 'cli-key', '--router', router.address])
    expect(del.code).toBe(0)
    expect(del.stdout).toMatch(/^deleted cli-key at version \d{15}\.\d{6}\.r1$/m)
    // The second delete succeeds too (exit 0) but says the key was not there.
    const again = await cli(['kv', 'del', 'cli-key', '--router', router.address])
    expect(again.code).toBe(0)
    expect(again.stdout).toMatch(/^cli-key was not there \(absent or already deleted\); tombstone written at version \d{15}\.\d{6}\.r1$/m)
    expect(JSON.parse((await cli(['kv', 'del', 'cli-key', '--router', router.address, '--json'])).stdout)).toMatchObject({key: 'cli-key', deleted: true, removedValue: false})
    const missing = await cli(['kv', 'get', 'cli-key', '--router', router.address])
    expect(missing.code).toBe(1)
    expect(missing.stderr).toMatch(/key "cli-key" not found \(deleted at/)
    const unreachable = await cli(['kv', 'get', 'x', '--router', '127.0.0.1:1'])
    expect(unreachable.code).toBe(17)
    expect(unreachable.stderr).not.toContain(dp.token)
  })

  it('stats shows per-node and per-shard load from the nodes\' leased stats', {timeout: 180_000}, async () => {
    const report = await waitFor(async () => {
      const res = await cli(['stats', '--json'])
      const r = JSON.parse(res.stdout) as {nodes: {node: string; reporting: boolean; writes: number}[]; shards: {shard: number; writes: number; reporting: number}[]}
      return r.nodes.every((n) => n.reporting) && r.shards.some((s) => s.writes > 0) ? r : undefined
    }, 'stats with write load', 20_000)
    expect(report.nodes.map((n) => n.node).sort()).toEqual(['n1', 'n2', 'n3'])
    expect(report.shards).toHaveLength(4)
    expect(report.shards.every((s) => s.reporting === 3)).toBe(true)
    const text = await cli(['stats'])
    expect(text.code).toBe(0)
    expect(text.stdout).toMatch(/NODE\s+UP\s+REPLICAS/)
    expect(text.stdout).toMatch(/SHARD\s+EPOCH\s+REPLICAS/)
    const watch = await cli(['stats', '--watch', '--json', '--count', '2', '--interval', '100ms', '--for', '15s'])
    expect(watch.code).toBe(0)
    const lines = watch.stdout.trim().split('\n')
    expect(lines).toHaveLength(2)
    for (const l of lines) expect(JSON.parse(l)).toHaveProperty('shards')
  })
})

describe('a node leaving the map', () => {
  it('has its connection pool drained, and the shards keep serving on the replicas left', async () => {
    for (const s of await dp.shards()) {
      const cur = await getShard(dp.ctx, s.id)
      const next = ShardSchema.parse({...cur.value, epoch: cur.value.epoch + 1, replicas: cur.value.replicas.filter((r) => r.node !== 'n3')})
      await dp.ctx.store.update(dp.ctx.keys.shard(s.id), JSON.stringify(next), cur.modRevision)
    }
    await waitFor(async () => (/drained connection pools of nodes no longer in the map: n3/.test(router.logs()) ? true : undefined), 'the pool of n3 drained')
    for (let i = 0; i < 8; i++) {
      expect((await kv(router.address, 'PUT', `after-n3-${i}`, `x${i}`)).status).toBe(204)
      expect((await kv(router.address, 'GET', `after-n3-${i}`)).body.toString()).toBe(`x${i}`)
    }
  })
})
