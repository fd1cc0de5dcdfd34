import {createServer, type Server} from 'node:http'
import type {AddressInfo} from 'node:net'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {renderError} from '../../src/cli/renderError.js'
import {EXIT_CODES, type ErrorCode} from '../../src/errors/codes.js'
import {UserError} from '../../src/errors/errors.js'
import {RouterClient} from '../../src/router/routerClient.js'

/**
 * What `kv get|put|del` print when a router refuses: the router's answer carries a code and
 * a message, and the CLI's line must also say how to fix it (README: `Error: <what was
 * wrong> — <how to fix it>`). A local HTTP server answers as a router does for each refusal.
 */

const refusals: Record<string, {status: number; message: string}> = {
  TOO_LARGE: {status: 413, message: 'value of 1100000 bytes exceeds 1048576'},
  QUORUM_FAILED: {status: 503, message: 'write quorum not reached for shard 3 (epoch 2, needed 2 of 3): n1 NODE_UNREACHABLE, n2 NODE_UNREACHABLE'},
  NOT_SERVING: {status: 503, message: 'the router is not serving (starting, re-reading the shard map, or shutting down)'},
  UNAUTHORIZED: {status: 401, message: 'authentication required: no token or client certificate; send "authorization: Bearer <token>" or a client certificate of a user'},
  FORBIDDEN: {status: 403, message: 'user "alice" may not write this key: no role grants write access on a prefix of it'},
  TLS_REQUIRED: {status: 400, message: 'this port speaks TLS only: dial https:// and trust the cluster CA (--tls-ca)'},
  CLOCK_OFFSET: {status: 503, message: 'the router refuses writes: its clock is 900 ms ahead of its peers'},
}

let server: Server
let client: RouterClient

beforeAll(async () => {
  server = createServer((req, res) => {
    const code = decodeURIComponent((req.url ?? '').replace('/kv/', ''))
    const r = refusals[code]!
    res.writeHead(r.status, {'content-type': 'application/json'})
    res.end(JSON.stringify({code, message: r.message}))
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  client = new RouterClient(`127.0.0.1:${(server.address() as AddressInfo).port}`, 5_000)
})

afterAll(async () => {
  await client.close()
  await new Promise<void>((resolve) => server.close(() => resolve()))
})

describe('RouterClient refusals', () => {
  it.each(Object.keys(refusals))('Given the router refuses with %s, Then the error keeps its code and exit code and says how to fix it, on one line', async (code) => {
    const err = await client.put(code, Buffer.from('v')).then(
      () => undefined,
      (e: unknown) => e,
    )
    expect(err).toBeInstanceOf(UserError)
    expect((err as UserError).code).toBe(code)
    expect((err as UserError).hint, code).toMatch(/\S/)
    const {line, exitCode} = renderError(err, 'kv:put')
    expect(exitCode).toBe(EXIT_CODES[code as ErrorCode])
    expect(line).toBe(`Error: router: ${refusals[code]!.message} — ${(err as UserError).hint}`)
    expect(line).not.toContain('\n')
  })

  it('Given a value over the limit, Then the hint says what the limits are and what to do instead', async () => {
    const err = (await client.put('TOO_LARGE', Buffer.from('v')).catch((e: unknown) => e)) as UserError
    expect(err.hint).toBe('a value is at most 1 MiB and a key at most 4096 bytes: store a larger object elsewhere and put a reference to it')
  })
})
