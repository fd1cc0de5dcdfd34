import {describe, expect, it} from 'vitest'
import {unissuedPort} from '../../src/localEtcd/freePort.js'

describe('freePort', () => {
  it('Given a kernel that returns the same port twice, When two ports are asked for, Then the second is a different one', async () => {
    const kernel = [41001, 41001, 41001, 41002]
    const next = async () => kernel.shift()!
    const a = await unissuedPort(next)
    const b = await unissuedPort(next)
    expect([a, b]).toEqual([41001, 41002])
  })

  it('Given a kernel that only ever returns an issued port, Then it gives up with an error naming the cause', async () => {
    await unissuedPort(async () => 41003)
    await expect(unissuedPort(async () => 41003)).rejects.toThrow(/already handed out/)
  })

})
