import {describe, expect, it} from 'vitest'
import {DISK_RESERVE_AUTO_MAX_BYTES, fullRetry, parseDiskReserve, recreateMargin, reserveAction, reserveTarget} from '../../src/node/diskReservePolicy.js'

const MiB = 1024 * 1024
const GiB = 1024 * MiB

describe('reserveTarget', () => {
  it('given auto, when sized, then it is 1% of the disk, at most 64 MiB, in whole 64 KiB', () => {
    expect(reserveTarget('auto', 1024 * GiB)).toBe(DISK_RESERVE_AUTO_MAX_BYTES)
    expect(reserveTarget('auto', 1 * GiB)).toBe(Math.floor(GiB / 100 / 65536) * 65536)
    expect(reserveTarget('auto', 24 * MiB) % 65536).toBe(0)
    expect(reserveTarget('auto', 1 * MiB)).toBe(0)
  })

  it('given a size or 0, when sized, then it is that size (rounded down to 64 KiB), whatever the disk; 0 is off', () => {
    expect(reserveTarget(2 * MiB, 24 * MiB)).toBe(2 * MiB)
    expect(reserveTarget(2 * MiB + 1000, 24 * MiB)).toBe(2 * MiB)
    expect(reserveTarget(0, 1024 * GiB)).toBe(0)
  })
})

describe('parseDiskReserve', () => {
  it('given auto, 0 or a size, when parsed, then it reads them; given garbage or a negative, then a one-line error names the value and the forms', () => {
    expect(parseDiskReserve('auto')).toBe('auto')
    expect(parseDiskReserve('0')).toBe(0)
    expect(parseDiskReserve('64MiB')).toBe(64 * MiB)
    expect(() => parseDiskReserve('lots')).toThrow(/^"lots" is not a disk reserve size; use auto, 0 \(off\) or a size such as 64MiB$/)
    expect(() => parseDiskReserve('-1')).toThrow(/"-1" is not a disk reserve size/)
  })
})

describe('reserveAction', () => {
  const target = 4 * MiB
  it('given no reserve and twice its size free, when checked, then it is made; with less free, it waits', () => {
    expect(reserveAction({target, held: 0, freeBytes: target + recreateMargin(target), spending: false})).toBe('create')
    expect(reserveAction({target, held: 0, freeBytes: target + recreateMargin(target) - 1, spending: false})).toBe('wait')
    // Just room for the file itself is not enough: the disk would be full again at once.
    expect(reserveAction({target, held: 0, freeBytes: target, spending: false})).toBe('wait')
  })

  it('given a freeing operation spending the room the reserve gave back, when checked, then it is not made under it however much is free', () => {
    expect(reserveAction({target, held: 0, freeBytes: 100 * target, spending: true})).toBe('wait')
  })

  it('given a reserve of the target size, or the reserve off with none held, when checked, then nothing changes', () => {
    expect(reserveAction({target, held: target, freeBytes: 0, spending: false})).toBe('keep')
    expect(reserveAction({target: 0, held: 0, freeBytes: 0, spending: false})).toBe('keep')
  })

  it('given a reserve of another size (the flag changed, or turned it off), when checked, then a larger one is cut, a smaller one replaced once the target fits and held until then, and any is removed when turned off', () => {
    expect(reserveAction({target, held: 8 * MiB, freeBytes: 0, spending: false})).toBe('shrink')
    expect(reserveAction({target, held: 2 * MiB, freeBytes: 100 * MiB, spending: false})).toBe('create')
    expect(reserveAction({target, held: 2 * MiB, freeBytes: target, spending: false})).toBe('wait')
    expect(reserveAction({target: 0, held: 2 * MiB, freeBytes: 100 * MiB, spending: false})).toBe('remove')
  })
})

describe('fullRetry', () => {
  it('given a freeing transaction refused for want of room, when a reserve is held, then it is released; without one, a checkpoint is tried once, then it fails', () => {
    expect(fullRetry(4 * MiB, false)).toBe('release')
    expect(fullRetry(0, false)).toBe('checkpoint')
    expect(fullRetry(0, true)).toBe('fail')
  })
})
