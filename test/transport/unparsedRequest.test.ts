import {Duplex} from 'node:stream'
import {afterEach, describe, expect, it, vi} from 'vitest'
import {OVERSIZE_DRAIN_BYTES, OVERSIZE_DRAIN_MS} from '../../src/transport/requestBody.js'
import {refuseUnparsedRequest} from '../../src/transport/unparsedRequest.js'

/** socket is a connection that records what was written and counts bytes read as a net.Socket does. */
function socket(): Duplex & {bytesRead: number; written: string[]} {
  const written: string[] = []
  const s = new Duplex({
    read() {},
    write(chunk: Buffer, _enc, done) {
      written.push(chunk.toString())
      done()
    },
  })
  return Object.assign(s, {bytesRead: 0, written})
}

const RESPONSE = 'HTTP/1.1 400 Bad Request\r\nconnection: close\r\ncontent-length: 0\r\n\r\n'

afterEach(() => {
  vi.useRealTimers()
})

describe('refuseUnparsedRequest', () => {
  it('Given a request node:http could not parse, When refused, Then the answer is written and the socket ends but is not destroyed yet', () => {
    const s = socket()
    refuseUnparsedRequest(s, RESPONSE)
    expect(s.written).toEqual([RESPONSE])
    expect(s.writableEnded).toBe(true)
    expect(s.destroyed).toBe(false)
  })

  it('Given a refused socket, When the parser reports more chunks within the bound, Then they are thrown away; past the bound, Then the socket is destroyed', () => {
    const s = socket()
    refuseUnparsedRequest(s, RESPONSE)
    s.bytesRead += OVERSIZE_DRAIN_BYTES
    refuseUnparsedRequest(s, RESPONSE)
    expect([s.destroyed, s.written.length]).toEqual([false, 1])
    s.bytesRead += 1
    refuseUnparsedRequest(s, RESPONSE)
    expect(s.destroyed).toBe(true)
  })

  it('Given a refused socket whose client keeps sending slowly, When OVERSIZE_DRAIN_MS pass, Then the socket is destroyed', () => {
    vi.useFakeTimers()
    const s = socket()
    refuseUnparsedRequest(s, RESPONSE)
    vi.advanceTimersByTime(OVERSIZE_DRAIN_MS - 1)
    expect(s.destroyed).toBe(false)
    vi.advanceTimersByTime(1)
    expect(s.destroyed).toBe(true)
  })

  it('Given a socket that can no longer be written, When refused, Then it is destroyed at once', () => {
    const s = socket()
    s.end()
    refuseUnparsedRequest(s, RESPONSE)
    expect(s.destroyed).toBe(true)
  })
})
