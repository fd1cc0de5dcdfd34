import {describe, expect, it} from 'vitest'
import {type RepairOutcome, ReadRepairQueue, type RepairTask} from '../../src/router/readRepairQueue.js'

const task = (key: string, version = 'v1', node = 'a'): RepairTask => ({shard: 0, epoch: 1, node, record: {key: Buffer.from(key), version, value: Buffer.from('x')}})

describe('ReadRepairQueue', () => {
  it('applies queued repairs in the background and counts outcomes', async () => {
    const outcomes: RepairOutcome[] = []
    const q = new ReadRepairQueue({capacity: 10, concurrency: 2, apply: async (t) => {
      if (t.record.key.toString() === 'bad') throw new Error('x')
    }, onOutcome: (o) => outcomes.push(o)})
    q.enqueue(task('a'))
    q.enqueue(task('bad'))
    await q.idle()
    expect(outcomes.sort()).toEqual(['applied', 'failed'])
  })

  it('drops new tasks when full instead of growing without bound', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const outcomes: RepairOutcome[] = []
    const q = new ReadRepairQueue({capacity: 2, concurrency: 1, apply: () => gate, onOutcome: (o) => outcomes.push(o)})
    expect(q.enqueue(task('k1'))).toBe(true) // running
    expect(q.enqueue(task('k2'))).toBe(true)
    expect(q.enqueue(task('k3'))).toBe(true)
    expect(q.enqueue(task('k4'))).toBe(false)
    expect(outcomes).toEqual(['dropped'])
    release()
    await q.idle()
  })

  it('keeps only the newest pending repair of one key on one node', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const applied: string[] = []
    const q = new ReadRepairQueue({capacity: 10, concurrency: 1, apply: async (t) => { await gate; applied.push(`${t.record.key}@${t.record.version}`) }})
    q.enqueue(task('busy'))
    q.enqueue(task('k', 'v1'))
    q.enqueue(task('k', 'v3'))
    q.enqueue(task('k', 'v2'))
    release()
    await q.idle()
    expect(applied).toEqual(['busy@v1', 'k@v3'])
  })

  it('Given a repair, Then it starts without waiting for a timer, and When it fails, Then it is not retried', async () => {
    const calls: string[] = []
    const outcomes: RepairOutcome[] = []
    const q = new ReadRepairQueue({capacity: 10, concurrency: 4, apply: async (t) => {
      calls.push(t.record.key.toString())
      throw new Error('node unreachable')
    }, onOutcome: (o) => outcomes.push(o)})
    q.enqueue(task('k'))
    // Microtasks only: no timer has had a chance to fire.
    for (let i = 0; i < 3; i++) await Promise.resolve()
    expect(calls).toEqual(['k'])
    await q.idle()
    await new Promise((r) => setTimeout(r, 20))
    expect(calls).toEqual(['k'])
    expect(outcomes).toEqual(['failed'])
  })

  it('Given a pending repair, When a newer one of the same key and node replaces it, Then it keeps its place in line', async () => {
    let release!: () => void
    const gate = new Promise<void>((r) => (release = r))
    const applied: string[] = []
    const q = new ReadRepairQueue({capacity: 10, concurrency: 1, apply: async (t) => { await gate; applied.push(`${t.record.key}@${t.record.version}`) }})
    q.enqueue(task('busy'))
    q.enqueue(task('k1', 'v1'))
    q.enqueue(task('k2', 'v1'))
    q.enqueue(task('k1', 'v2'))
    release()
    await q.idle()
    expect(applied).toEqual(['busy@v1', 'k1@v2', 'k2@v1'])
  })

  it('close drops what is pending and waits for running repairs', async () => {
    const outcomes: RepairOutcome[] = []
    const q = new ReadRepairQueue({capacity: 10, concurrency: 1, apply: () => new Promise((r) => setTimeout(r, 10)), onOutcome: (o) => outcomes.push(o)})
    q.enqueue(task('k1'))
    q.enqueue(task('k2'))
    await q.close()
    expect(outcomes.sort()).toEqual(['applied', 'dropped'])
    expect(q.enqueue(task('k3'))).toBe(false)
  })
})
