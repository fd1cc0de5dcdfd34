import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {renderError} from '../../src/cli/renderError.js'
import {UserError} from '../../src/errors/errors.js'
import {kvDel, kvGet, kvPut} from '../../src/router/kvService.js'

/**
 * `kv get` of a key the router does not have: exit 1 (NOT_FOUND), one line in the CLI's
 * `Error: <what> — <fix>` form. A local HTTP server answers as a router does: 404 with the
 * tombstone's version for a deleted key, without one for a key never written.
 */

let server: Server
let router: string
let requests = 0

beforeAll(async () => {
  server = createServer((req, res) => {
    requests++
    const deleted = req.url === '/kv/gone'
    res.writeHead(404, {'content-type': 'application/json', ...(deleted ? {'x-shardctl-version': '001796284333886.000000.r1'} : {})})
    res.end(JSON.stringify({code: 'NOT_FOUND', message: deleted ? 'key deleted' : 'key not found'}))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  router = `127.0.0.1:${(server.address() as AddressInfo).port}`
})

afterAll(async () => {
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

const services = () => Promise.reject(new Error('no etcd: --router is given'))

describe('kvGet of a key that is not there', () => {
  it('Given a key never written, Then NOT_FOUND (exit 1) says so and what to do, on one line', async () => {
    const err = (await kvGet({router, services}, 'never').catch((e: unknown) => e)) as UserError
    expect(err).toBeInstanceOf(UserError)
    expect(err.code).toBe('NOT_FOUND')
    const {line, exitCode} = renderError(err, 'kv:get')
    expect(exitCode).toBe(1)
    expect(line).toBe('Error: key "never" not found — check the key (keys are exact bytes, case-sensitive), or write it with `shardctl kv put`')
  })

  it('Given a deleted key, Then the line names the version it was deleted at', async () => {
    const err = (await kvGet({router, services}, 'gone').catch((e: unknown) => e)) as UserError
    expect(renderError(err, 'kv:get').line).toBe('Error: key "gone" not found (deleted at 001796284333886.000000.r1) — check the key (keys are exact bytes, case-sensitive), or write it with `shardctl kv put`')
  })
})

describe('kv get/put/del of an empty key', () => {
  // `kv put '' v` used to reach the router and print its HTTP-level refusal ("empty key: use
  // /kv/{url-encoded key}"), with no fix; the CLI now says it before sending anything.
  it('Given an empty key, Then BAD_INPUT (exit 2) says the key is empty, and no request reaches the router', async () => {
    const before = requests
    for (const call of [() => kvGet({router, services}, ''), () => kvPut({router, services}, '', Buffer.from('v')), () => kvDel({router, services}, '')]) {
      const err = (await call().catch((e: unknown) => e)) as UserError
      expect(err).toBeInstanceOf(UserError)
      expect(err.code).toBe('BAD_INPUT')
      const {line, exitCode} = renderError(err, 'kv:put')
      expect(exitCode).toBe(2)
      expect(line).toMatch(/^Error: the key is empty; nothing was sent to the router — give a non-empty key/)
      expect(line).not.toMatch(/\/kv\//)
    }
    expect(requests).toBe(before)
  })

  it('Given a key over 4096 bytes in UTF-8 (2049 two-byte characters), Then BAD_INPUT (exit 2) names its length and the limit, and no request reaches the router', async () => {
    const before = requests
    const key = 'é'.repeat(2049)
    for (const call of [() => kvGet({router, services}, key), () => kvPut({router, services}, key, Buffer.from('v')), () => kvDel({router, services}, key)]) {
      const err = (await call().catch((e: unknown) => e)) as UserError
      expect(err.code).toBe('BAD_INPUT')
      expect(renderError(err, 'kv:put').line).toMatch(/^Error: the key is 4098 bytes long in UTF-8; keys are at most 4096 bytes; nothing was sent to the router — give a non-empty key of at most 4096 bytes/)
    }
    expect(requests).toBe(before)
  })
})
