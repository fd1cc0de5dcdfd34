import {connect} from 'node:net'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {DataPlane, kv, waitFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

let dp: DataPlane
let router: RouterProcess

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'drain')
  await dp.init(2, 4, 1)
  router = await dp.startRouter('rd', ['--node-timeout', '10s', '--request-timeout', '15s', '--drain-timeout', '8s'])
})

afterAll(async () => {
  for (const n of Object.values(dp?.nodes ?? {})) n.signal('SIGCONT')
  await dp?.teardown()
})

function refused(address: string): Promise<boolean> {
  const [host, port] = address.split(':')
  return new Promise((resolve) => {
    const s = connect(Number(port), host!)
    s.once('connect', () => {
      s.destroy()
      resolve(false)
    })
    s.once('error', () => resolve(true))
  })
}

describe('router at rf 1 and graceful SIGTERM', () => {
  it('rf 1 works: every write is acknowledged by the one replica and reads back', async () => {
    for (let i = 0; i < 10; i++) expect((await kv(router.address, 'PUT', `one-${i}`, `v${i}`)).status).toBe(204)
    for (let i = 0; i < 10; i++) expect((await kv(router.address, 'GET', `one-${i}`)).body.toString()).toBe(`v${i}`)
  })

  it('SIGTERM stops accepting, finishes the requests in flight, deregisters and exits 0', async () => {
    // Hold every node so requests pile up in the router, in flight.
    for (const n of Object.values(dp.nodes)) n.signal('SIGSTOP')
    let inflight: Promise<number>[] = []
    try {
      inflight = Array.from({length: 12}, (_, i) => kv(router.address, 'PUT', `drain-${i}`, `d${i}`).then((r) => r.status))
      await waitFor(async () => {
        const text = await (await fetch(`http://${router.address}/metrics`)).text()
        const m = /^shardctl_router_inflight_requests (\d+)/m.exec(text)
        return m && Number(m[1]) >= 13 ? true : undefined // 12 writes + this scrape
      }, '12 requests in flight')
      router.signal('SIGTERM')
      await waitFor(async () => ((await refused(router.address)) ? true : undefined), 'the listener to close', 5000)
    } finally {
      for (const n of Object.values(dp.nodes)) n.signal('SIGCONT')
    }
    expect(await Promise.all(inflight)).toEqual(Array(12).fill(204))
    expect(await router.exited).toBe(0)
    expect(router.logs()).toMatch(/drained; exiting/)
    expect(await dp.ctx.store.get(dp.ctx.keys.router('rd'))).toBeUndefined()
    const next = await dp.startRouter('rd2')
    for (let i = 0; i < 12; i++) expect((await kv(next.address, 'GET', `drain-${i}`)).body.toString()).toBe(`d${i}`)
  })
})
