import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {DataPlane, kv, keyFor} from './dataPlane.js'
import {type RouterProcess} from './routerProcess.js'

let dp: DataPlane
let router: RouterProcess

beforeAll(async () => {
  dp = new DataPlane(inject('etcdEndpoint'), 'router')
  await dp.init(3, 4, 3)
  router = await dp.startRouter('r1')
})

afterAll(async () => {
  await dp?.teardown()
})

describe('router at rf 3', () => {
  it('writes reach every replica and read back through the router with their version', async () => {
    const put = await kv(router.address, 'PUT', 'hello', 'world')
    expect(put.status).toBe(204)
    expect(put.version).toMatch(/^\d{15}\.\d{6}\.r1$/)
    const got = await kv(router.address, 'GET', 'hello')
    expect(got.status).toBe(200)
    expect(got.body.toString()).toBe('world')
    expect(got.version).toBe(put.version)
  })
})
