import {createServer, type Server} from 'node:http'
import {type AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {freePort} from '../../src/localEtcd/freePort.js'
import {NodeClient} from '../../src/node/nodeClient.js'
import {isNodeRequestError, type NodeRequestError} from '../../src/node/nodeRequestError.js'

const TOKEN = 'unit-test-token-0123456789'

/** failureOf runs `p` and returns the NodeRequestError it rejects with. */
async function failureOf(p: Promise<unknown>): Promise<NodeRequestError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  if (!isNodeRequestError(err)) throw new Error(`expected a NodeRequestError, got ${String(err)}`)
  return err
}

describe('NodeClient timedOut', () => {
  // Accepts connections and reads requests, never answers: only a timeout ends a request.
  let silent: Server
  let silentAddress: string
  const clients: NodeClient[] = []
  const client = (address: string, timeoutMs: number) => {
    const c = new NodeClient({node: 'n', address, token: TOKEN, timeoutMs})
    clients.push(c)
    return c
  }

  beforeAll(async () => {
    silent = createServer(() => {})
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r))
    silentAddress = `127.0.0.1:${(silent.address() as AddressInfo).port}`
  })

  afterAll(async () => {
    for (const c of clients) await c.destroy()
    silent.closeAllConnections()
    await new Promise((r) => silent.close(r))
  })

  it('Given a node that never answers, When the client timeout passes, Then the error is NODE_UNREACHABLE with timedOut', async () => {
    const err = await failureOf(client(silentAddress, 200).stats())
    expect(err.code).toBe('NODE_UNREACHABLE')
    expect(err.timedOut).toBe(true)
  })

  it('Given a caller signal that stays quiet, When the client timeout passes first, Then timedOut is set', async () => {
    const caller = new AbortController()
    const err = await failureOf(client(silentAddress, 200).apply(0, 1, [], 'write', {signal: caller.signal}))
    expect(err.timedOut).toBe(true)
  })

  it('Given a caller that aborts its own signal, When the request ends, Then it is not the client timing out', async () => {
    const caller = new AbortController()
    const pending = client(silentAddress, 10_000).stats({signal: caller.signal})
    setTimeout(() => caller.abort(), 50)
    const err = await failureOf(pending)
    expect(err.code).toBe('NODE_UNREACHABLE')
    expect(err.timedOut).toBe(false)
  })

  it('Given nothing listening, When the connection is refused, Then timedOut is false', async () => {
    const err = await failureOf(client(`127.0.0.1:${await freePort()}`, 2000).stats())
    expect(err.code).toBe('NODE_UNREACHABLE')
    expect(err.timedOut).toBe(false)
  })
})
