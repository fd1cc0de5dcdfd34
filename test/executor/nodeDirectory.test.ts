import {describe, expect, it} from 'vitest'
import {NodeDirectory} from '../../src/executor/nodeDirectory.js'

describe('NodeDirectory', () => {
  it('follows a node that moved to a new address once its copy is older than maxAge', async () => {
    let now = 0
    let addresses = new Map([['n1', '127.0.0.1:7001']])
    let loads = 0
    const dir = new NodeDirectory(async () => {
      loads++
      return new Map(addresses)
    }, () => now, 2000)
    expect(await dir.address('n1')).toBe('127.0.0.1:7001')
    addresses = new Map([['n1', '127.0.0.1:7999']])
    now = 1000
    expect(await dir.address('n1')).toBe('127.0.0.1:7001') // fresh enough: no read
    expect(loads).toBe(1)
    now = 2500
    expect(await dir.address('n1')).toBe('127.0.0.1:7999')
    expect(loads).toBe(2)
  })

  it('re-reads at once for an id it does not know, and says NOT_FOUND when no record names it', async () => {
    let addresses = new Map<string, string>()
    const dir = new NodeDirectory(async () => new Map(addresses), () => 0)
    await expect(dir.address('n2')).rejects.toThrow(/node "n2" is not registered/)
    addresses = new Map([['n2', '127.0.0.1:7002']])
    expect(await dir.address('n2')).toBe('127.0.0.1:7002')
  })

  it('shares one read among concurrent look-ups', async () => {
    let loads = 0
    const dir = new NodeDirectory(async () => {
      loads++
      await new Promise((r) => setTimeout(r, 5))
      return new Map([['n1', 'x:1']])
    }, () => 0)
    await Promise.all([dir.address('n1'), dir.address('n1'), dir.address('n1')])
    expect(loads).toBe(1)
  })
})
