import {mkdtempSync, readdirSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeAll, describe, expect, it} from 'vitest'
import {bareCopyRate, pacedBareCopy} from '../../bench/bareCopy.js'
import {assertDistFresh, REPO_ROOT} from '../support/cliChild.js'

const MiB = 1024 * 1024
const RECEIVER = `${REPO_ROOT}dist/bench/bareCopy.js`

describe('bareCopyRate (a real receiving process on 127.0.0.1)', () => {
  let dir = ''
  beforeAll(() => assertDistFresh(['bench/bareCopy']))
  afterEach(() => rmSync(dir, {recursive: true, force: true}))

  it('copies every byte (the receiver counts what it wrote and fdatasync\'d) and leaves no file behind', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bare-copy-'))
    // Not a whole number of 1 MiB reads, so the last short read is exercised.
    const copy = await bareCopyRate(dir, 9 * MiB + 12_345, 60_000, RECEIVER)
    for (const figure of [copy.bytesPerSecond, copy.senderCpuSeconds, copy.receiverCpuSeconds]) {
      expect(Number.isFinite(figure)).toBe(true)
      expect(figure).toBeGreaterThan(0)
    }
    expect(readdirSync(dir)).toEqual([])
  })

  it('rejects, naming the receiver, when the receiving process cannot run', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bare-copy-'))
    await expect(bareCopyRate(dir, MiB, 60_000, join(dir, 'no-such-receiver.js'))).rejects.toThrow(/bare copy receiver exited/)
    expect(readdirSync(dir)).toEqual([])
  })

  it('a paced copy with its sender in a process of its own copies every byte and never runs ahead of its rate', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bare-copy-'))
    const rate = 8 * MiB
    const reached = await pacedBareCopy(dir, 3 * MiB + 777, rate, 60_000, RECEIVER)
    expect(reached).toBeGreaterThan(0)
    // The sender waits until each write is due at `rate`; the receiver's last fdatasync comes after.
    expect(reached).toBeLessThanOrEqual(rate)
    expect(readdirSync(dir)).toEqual([])
  })

  it('a paced copy rejects, leaving no file behind, when its processes cannot run', async () => {
    dir = mkdtempSync(join(tmpdir(), 'bare-copy-'))
    await expect(pacedBareCopy(dir, MiB, null, 60_000, join(dir, 'no-such-script.js'))).rejects.toThrow(/bare copy receiver exited/)
    expect(readdirSync(dir)).toEqual([])
  })
})
