import {describe, expect, it} from 'vitest'
import {isUserError} from '../../src/errors/errors.js'
import {type ServeFlags, serveOptions} from '../../src/node/serveOptions.js'

const log = {info: () => {}, warn: () => {}, error: () => {}}
const flags: ServeFlags = {id: 'n1', listen: {host: '127.0.0.1', port: 0}, 'data-dir': '/tmp/x', 'stats-interval': 5000, 'lease-ttl': 10_000, 'tombstone-grace': 3_600_000, 'shutdown-timeout': 10_000, fsync: 'full', 'max-clock-offset': 500}

/** refusal is the one-line BAD_INPUT message serveOptions throws for `f`. */
function refusal(f: ServeFlags): string {
  try {
    serveOptions(f, log, {})
  } catch (err) {
    if (isUserError(err, 'BAD_INPUT')) return err.message
    throw err
  }
  throw new Error('serveOptions accepted the flags')
}

describe('node serve --listen port 0', () => {
  it('Given a dialable host with port 0, When the flags are read, Then the node listens on any free port and advertises what it binds', () => {
    const opts = serveOptions(flags, log, {})
    expect(opts.listenPort).toBe(0)
    expect(opts.advertise).toBeUndefined()
  })

  it('Given port 0 with a fixed --advertise, When the flags are read, Then it is refused in one line: the advertised port could not be the bound one', () => {
    const message = refusal({...flags, listen: {host: '0.0.0.0', port: 0}, advertise: '10.0.0.2:7002'})
    expect(message).toMatch(/--listen 0\.0\.0\.0:0 picks any free port, which --advertise 10\.0\.0\.2:7002 cannot name/)
    expect(message).not.toContain('\n')
    expect(() => serveOptions({...flags, advertise: '127.0.0.1:7002'}, log, {})).toThrow(/cannot name/)
  })

  it('Given a wildcard host with port 0 and no --advertise, When the flags are read, Then the hint does not send the user to --advertise (refused with port 0)', () => {
    try {
      serveOptions({...flags, listen: {host: '0.0.0.0', port: 0}}, log, {})
      throw new Error('accepted')
    } catch (err) {
      expect(isUserError(err, 'BAD_INPUT')).toBe(true)
      expect((err as {hint?: string}).hint).toMatch(/--listen 10\.0\.0\.2:0/)
    }
  })
})
