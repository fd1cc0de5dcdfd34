import {describe, expect, it} from 'vitest'
import {affects, ETCD_BUGS, type EtcdBug, etcdBugsIn, etcdVersionWarning, parseEtcdVersion, upgradeAdvice} from '../../src/etcd/etcdKnownBugs.js'

const bug = (fixedIn: string[]): EtcdBug => ({ref: 'r', what: 'w', risk: 'x', fixedIn})
const v = (s: string) => parseEtcdVersion(s)!

describe('parseEtcdVersion', () => {
  it('reads major.minor.patch, with a v prefix or a pre-release or build suffix', () => {
    expect(parseEtcdVersion('3.4.23')).toEqual({major: 3, minor: 4, patch: 23})
    expect(parseEtcdVersion(' v3.5.13 ')).toEqual({major: 3, minor: 5, patch: 13})
    expect(parseEtcdVersion('3.6.0-rc.1')).toEqual({major: 3, minor: 6, patch: 0})
    expect(parseEtcdVersion('3.6.0+git')).toEqual({major: 3, minor: 6, patch: 0})
  })

  it('refuses anything else', () => {
    for (const s of ['', '3.4', '3.4.x', 'etcd 3.4.23', 'not provided']) expect(parseEtcdVersion(s)).toBeUndefined()
  })
})

describe('affects', () => {
  const b = bug(['3.4.31', '3.5.13'])

  it('in a line that got the fix, is true before the fixed patch and false from it on', () => {
    expect(affects(b, v('3.4.23'))).toBe(true)
    expect(affects(b, v('3.4.30'))).toBe(true)
    expect(affects(b, v('3.4.31'))).toBe(false)
    expect(affects(b, v('3.5.12'))).toBe(true)
    expect(affects(b, v('3.5.13'))).toBe(false)
    expect(affects(b, v('3.5.21'))).toBe(false)
  })

  it('is true for a line older than every fixed one and false for a line branched after the fix', () => {
    expect(affects(b, v('3.3.27'))).toBe(true)
    expect(affects(b, v('2.3.8'))).toBe(true)
    expect(affects(b, v('3.6.0'))).toBe(false)
    expect(affects(b, v('4.0.0'))).toBe(false)
  })

  it('is true for a line between fixed ones that never got the fix', () => {
    expect(affects(bug(['3.3.20', '3.5.13']), v('3.4.99'))).toBe(true)
  })
})

describe('etcdBugsIn', () => {
  it("finds both known bugs in Debian 12's etcd 3.4.23 and none in 3.4.31, 3.5.13 or 3.6.0", () => {
    expect(etcdBugsIn('3.4.23')).toEqual(ETCD_BUGS)
    for (const fixed of ['3.4.31', '3.5.13', '3.6.0']) expect(etcdBugsIn(fixed)).toEqual([])
  })

  it('knows nothing of a version it cannot read', () => {
    expect(etcdBugsIn('unknown')).toBeUndefined()
  })
})

describe('the warning', () => {
  it('names the version, each bug and the first fixed release of each line', () => {
    const line = etcdVersionWarning('3.4.23', ETCD_BUGS)
    expect(line).toContain('etcd 3.4.23 has 2 known bugs')
    for (const b of ETCD_BUGS) expect(line).toContain(b.what)
    expect(line).toMatch(/upgrade etcd to 3\.4\.31\+ or 3\.5\.13\+$/)
    expect(line).not.toContain('\n')
  })

  it('asks for the newest fix of each line when bugs were fixed at different patches', () => {
    expect(upgradeAdvice([bug(['3.4.25', '3.5.9']), bug(['3.4.31', '3.5.7'])])).toBe('3.4.31+ or 3.5.9+')
  })
})
