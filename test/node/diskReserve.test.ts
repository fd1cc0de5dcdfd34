/** DiskReserve on a real temp dir, with the file system's free space pretended (statfs injected). */
import {existsSync, mkdtempSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {DiskReserve, RESERVE_FILE} from '../../src/node/diskReserve.js'

const MiB = 1024 * 1024
const dirs: string[] = []

function setup(freeBytes: number, setting: number | 'auto' = 2 * MiB) {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-reserve-'))
  dirs.push(dir)
  const lines: string[] = []
  const space = {free: freeBytes, spending: false}
  const log = {info: (m: string) => lines.push(`info ${m}`), warn: (m: string) => lines.push(`warn ${m}`)}
  const reserve = new DiskReserve({dir, setting, log, disk: {space: async () => ({totalBytes: 1024 * MiB, freeBytes: space.free})}, spending: () => space.spending})
  return {dir, file: join(dir, RESERVE_FILE), reserve, lines, space}
}

afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

describe('DiskReserve', () => {
  it('given room, when started, then it writes the whole reserve (not sparse) and says so in one line', async () => {
    const {file, reserve, lines} = setup(100 * MiB)
    await reserve.start()
    expect(reserve.held()).toBe(2 * MiB)
    const st = statSync(file)
    expect(st.size).toBe(2 * MiB)
    expect(st.blocks * 512).toBeGreaterThanOrEqual(2 * MiB)
    expect(lines).toEqual([expect.stringMatching(/^info disk reserve: holding 2\.0 MiB in /)])
  })

  it('given too little room, when started, then it logs one line and runs without; checked again, no second line; once there is room, it is made', async () => {
    const {file, reserve, lines, space} = setup(3 * MiB)
    await reserve.start()
    await reserve.maintain()
    expect(reserve.held()).toBe(0)
    expect(existsSync(file)).toBe(false)
    expect(lines).toEqual([expect.stringMatching(/^warn disk reserve: not enough room for 2\.0 MiB in .* \(3\.0 MiB free; it is made once 4\.0 MiB are free\); running without it$/)])
    space.free = 4 * MiB
    await reserve.maintain()
    expect(reserve.held()).toBe(2 * MiB)
  })

  it('given a held reserve, when a freeing operation finds no room, then it is released with one warning naming why, and not made again while the operation spends its room', async () => {
    const {file, reserve, lines, space} = setup(100 * MiB)
    await reserve.start()
    space.spending = true
    expect(await reserve.freeingFull('a shard data drop', false)).toBe('release')
    expect(existsSync(file)).toBe(false)
    expect(lines.at(-1)).toMatch(/^warn disk reserve released: 2\.0 MiB given up in .* so that a shard data drop can finish on a full disk; it is made again once 4\.0 MiB are free$/)
    expect(await reserve.freeingFull('a shard data drop', false)).toBe('checkpoint')
    expect(await reserve.freeingFull('a shard data drop', true)).toBe('fail')
    await reserve.maintain()
    expect(reserve.held()).toBe(0)
    space.spending = false
    await reserve.maintain()
    expect(reserve.held()).toBe(2 * MiB)
  })

  it('given a reserve file of another size (the flag changed) and a half-written one, when started, then both go and one of the new size is made', async () => {
    const {dir, file, reserve} = setup(100 * MiB)
    writeFileSync(file, Buffer.alloc(64 * 1024))
    writeFileSync(join(dir, `${RESERVE_FILE}.tmp`), Buffer.alloc(1000))
    await reserve.start()
    expect(statSync(file).size).toBe(2 * MiB)
    expect(existsSync(join(dir, `${RESERVE_FILE}.tmp`))).toBe(false)
  })

  it('given --disk-reserve 0, when started, then a reserve left by an earlier run is removed and none is made', async () => {
    const {file, reserve} = setup(100 * MiB, 0)
    writeFileSync(file, Buffer.alloc(64 * 1024))
    await reserve.start()
    expect(existsSync(file)).toBe(false)
    expect(reserve.held()).toBe(0)
    expect(reserve.target()).toBe(0)
  })

  it('given a held reserve that an operator deleted, when checked, then it is seen gone (held 0, not a phantom) and made again once there is room', async () => {
    const {file, reserve, space} = setup(100 * MiB)
    await reserve.start()
    rmSync(file)
    space.free = 3 * MiB
    await reserve.maintain()
    // Held must say what is on disk: a gauge showing 2 MiB over no file lets a full node be drained with nothing to spend.
    expect(reserve.held()).toBe(0)
    space.free = 100 * MiB
    await reserve.maintain()
    expect(reserve.held()).toBe(2 * MiB)
    expect(statSync(file).size).toBe(2 * MiB)
  })

  it('given a held reserve, when a check runs while a freeing operation releases it, then it is counted gone: the next refusal checkpoints instead of releasing nothing', async () => {
    const {file, reserve, space} = setup(100 * MiB)
    await reserve.start()
    space.spending = true
    const [step] = await Promise.all([reserve.freeingFull('a shard data drop', false), reserve.maintain()])
    expect(step).toBe('release')
    expect(existsSync(file)).toBe(false)
    expect(reserve.held()).toBe(0)
    expect(await reserve.freeingFull('a shard data drop', false)).toBe('checkpoint')
  })

  it('given a reserve file of another size on a disk without room for a new one (restarted on a full disk), when started, then it is kept: a larger one cut to the target, a smaller one held until the target fits', async () => {
    const larger = setup(3 * MiB)
    writeFileSync(larger.file, Buffer.alloc(4 * MiB))
    await larger.reserve.start()
    expect(larger.reserve.held()).toBe(2 * MiB)
    expect(statSync(larger.file).size).toBe(2 * MiB)
    const smaller = setup(3 * MiB)
    writeFileSync(smaller.file, Buffer.alloc(1 * MiB))
    await smaller.reserve.start()
    // Removed, it would leave a full node nothing to free a drop with.
    expect(smaller.reserve.held()).toBe(1 * MiB)
    expect(await smaller.reserve.freeingFull('a shard data drop', false)).toBe('release')
    expect(existsSync(smaller.file)).toBe(false)
  })
})
