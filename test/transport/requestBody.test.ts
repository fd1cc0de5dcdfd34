import {PassThrough} from 'node:stream'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {closesAfterAnswer, drainAtMost, OVERSIZE_DRAIN_BYTES, OVERSIZE_DRAIN_MS, readRequestBody, settleUnreadBody} from '../../src/transport/requestBody.js'

const MiB = 1024 * 1024

/** request is a body stream with headers, as readRequestBody sees an IncomingMessage. */
function request(headers: Record<string, string> = {}): PassThrough & {headers: Record<string, string>} {
  return Object.assign(new PassThrough(), {headers})
}

/** response records the headers set on it. */
function response(): {headers: Record<string, string>; setHeader(name: string, value: string): void} {
  const headers: Record<string, string> = {}
  return {headers, setHeader: (name, value) => void (headers[name] = value)}
}

/** track follows a promise: whether it settled yet, and how. */
function track<T>(p: Promise<T>): {settled: () => boolean; outcome: Promise<{ok: true; value: T} | {ok: false; error: unknown}>} {
  let settled = false
  const outcome = p.then(
    (value) => ((settled = true), {ok: true as const, value}),
    (error: unknown) => ((settled = true), {ok: false as const, error}),
  )
  return {settled: () => settled, outcome}
}

const tick = () => new Promise((r) => setImmediate(r))

afterEach(() => {
  vi.useRealTimers()
})

describe('readRequestBody', () => {
  it('Given a body of exactly the limit, When it ends, Then it resolves with every byte in order', async () => {
    const req = request()
    const body = readRequestBody(req, response(), 11, 'value')
    req.write(Buffer.from('hello '))
    req.end(Buffer.from('world'))
    expect((await body).toString()).toBe('hello world')
  })

  it('Given a declared length over the limit but within the drain bound, Then it reads the whole body before refusing TOO_LARGE and asks for the connection to close', async () => {
    const req = request({'content-length': String(4 * MiB)})
    const res = response()
    const body = track(readRequestBody(req, res, MiB, 'request body'))
    req.write(Buffer.alloc(2 * MiB))
    await tick()
    // The refusal waits for the rest: answering now would close on unread bytes (a reset).
    expect(body.settled()).toBe(false)
    expect(req.readableLength).toBe(0)
    req.end(Buffer.alloc(2 * MiB))
    const out = await body.outcome
    expect(out.ok ? 'resolved' : out.error).toMatchObject({code: 'TOO_LARGE', message: `request body of ${4 * MiB} bytes exceeds ${MiB}`})
    expect(res.headers.connection).toBe('close')
  })

  it('Given a declared length beyond the drain bound, Then it refuses TOO_LARGE at once without reading the body', async () => {
    const req = request({'content-length': String(MiB + OVERSIZE_DRAIN_BYTES + 1)})
    const res = response()
    req.write(Buffer.alloc(1024))
    await expect(readRequestBody(req, res, MiB, 'value')).rejects.toMatchObject({code: 'TOO_LARGE'})
    expect(req.readableLength).toBe(1024)
    expect(res.headers.connection).toBe('close')
  })

  it('Given no declared length, When the counted body passes the limit, Then it reads on to the end and refuses TOO_LARGE', async () => {
    const req = request()
    const res = response()
    const body = track(readRequestBody(req, res, 10, 'value'))
    req.write(Buffer.alloc(11))
    await tick()
    expect(body.settled()).toBe(false)
    expect(res.headers.connection).toBe('close')
    req.end(Buffer.alloc(MiB))
    const out = await body.outcome
    expect(out.ok ? 'resolved' : out.error).toMatchObject({code: 'TOO_LARGE', message: 'value exceeds 10 bytes'})
  })

  it('Given a body that fails or is cut before its end, Then it refuses BAD_INPUT instead of waiting forever', async () => {
    const failing = request()
    const failed = readRequestBody(failing, response(), 10, 'value')
    failing.destroy(new Error('aborted'))
    await expect(failed).rejects.toMatchObject({code: 'BAD_INPUT', message: 'value: aborted'})
    const cut = request()
    const closed = readRequestBody(cut, response(), 10, 'value')
    cut.destroy()
    await expect(closed).rejects.toMatchObject({code: 'BAD_INPUT'})
  })
})

describe('drainAtMost', () => {
  it('Given bytes 0, Then it settles at once and leaves the body unread', async () => {
    const req = request()
    req.write(Buffer.alloc(100))
    await drainAtMost(req, 0)
    expect(req.readableLength).toBe(100)
  })

  it('Given a body longer than the bound, Then it settles once more than `bytes` arrived, before the body ends', async () => {
    const req = request()
    const drained = track(drainAtMost(req, 2 * MiB))
    req.write(Buffer.alloc(2 * MiB))
    await tick()
    expect(drained.settled()).toBe(false)
    req.write(Buffer.alloc(1))
    await tick()
    expect(drained.settled()).toBe(true)
    expect(req.readableEnded).toBe(false)
  })

  it('Given a body that stalls, Then it settles after OVERSIZE_DRAIN_MS', async () => {
    vi.useFakeTimers()
    const req = request()
    const drained = track(drainAtMost(req, MiB))
    req.write(Buffer.alloc(10))
    vi.advanceTimersByTime(OVERSIZE_DRAIN_MS - 1)
    await Promise.resolve()
    expect(drained.settled()).toBe(false)
    vi.advanceTimersByTime(1)
    await drained.outcome
    expect(drained.settled()).toBe(true)
  })
})

/** unread is a request whose body nobody has touched yet, as settleUnreadBody sees an IncomingMessage. */
function unread(httpVersion: string, headers: Record<string, string> = {}): PassThrough & {headers: Record<string, string>; httpVersion: string; complete: boolean} {
  return Object.assign(new PassThrough(), {headers, httpVersion, complete: false})
}

/** answer is a response with the given headers already set. */
function answer(headers: Record<string, string> = {}): {getHeader(name: string): string | undefined} {
  return {getHeader: (name) => headers[name]}
}

describe('closesAfterAnswer', () => {
  it.each([
    ['1.1', {}, {}, false],
    ['1.1', {connection: 'keep-alive'}, {}, false],
    ['1.1', {connection: 'close'}, {}, true],
    ['1.1', {connection: 'Upgrade, Close'}, {}, true],
    ['1.1', {}, {connection: 'close'}, true],
    ['1.0', {}, {}, true],
    ['1.0', {connection: 'Keep-Alive'}, {}, false],
  ] as const)('HTTP/%s with request headers %o and response headers %o: %s', (version, reqHeaders, resHeaders, closes) => {
    expect(closesAfterAnswer(unread(version, {...reqHeaders}), answer({...resHeaders}))).toBe(closes)
  })
})

describe('settleUnreadBody', () => {
  it('Given a keep-alive connection, When a refused body is unread, Then it settles at once and lets the body flow (read off before the next request)', async () => {
    const req = unread('1.1')
    await settleUnreadBody(req, answer())
    expect(req.readableFlowing).toBe(true)
  })

  it('Given a connection that closes after the answer, When the body arrives, Then it settles only once the body ended', async () => {
    const req = unread('1.1', {connection: 'close'})
    const settled = track(settleUnreadBody(req, answer()))
    req.write(Buffer.alloc(MiB))
    await tick()
    expect(settled.settled()).toBe(false)
    req.end(Buffer.alloc(MiB))
    expect((await settled.outcome).ok).toBe(true)
  })

  it('Given a connection that closes after the answer, When more than the bound arrives, Then it settles without waiting for the rest', async () => {
    const req = unread('1.1', {connection: 'close'})
    const settled = track(settleUnreadBody(req, answer()))
    req.write(Buffer.alloc(OVERSIZE_DRAIN_BYTES + 1))
    expect((await settled.outcome).ok).toBe(true)
    expect(req.writableEnded).toBe(false)
  })

  it('Given a body already being read (readRequestBody) or complete, When settled, Then it does not read it again', async () => {
    const reading = unread('1.1', {connection: 'close'})
    reading.on('data', () => {})
    const whileReading = track(settleUnreadBody(reading, answer()))
    const complete = Object.assign(unread('1.1', {connection: 'close'}), {complete: true})
    const whenComplete = track(settleUnreadBody(complete, answer()))
    await tick()
    expect([whileReading.settled(), whenComplete.settled()]).toEqual([true, true])
    expect(complete.readableFlowing).toBe(null)
  })
})
