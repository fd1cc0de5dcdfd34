import {describe, expect, it} from 'vitest'
import {freePort} from '../../../src/localEtcd/freePort.js'

describe('freePort on 127.0.0.1', () => {
  it('Given 200 ports asked for in a row on 127.0.0.1, Then all are distinct', async () => {
    const ports = []
    for (let i = 0; i < 200; i++) ports.push(await freePort())
    expect(new Set(ports).size).toBe(200)
  })
})
