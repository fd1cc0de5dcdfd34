import {describe, expect, it} from 'vitest'
import {type CopyEngine, meteredCopyEngine} from '../../src/node/meteredCopyEngine.js'

function recordingEngine(): {engine: CopyEngine; calls: unknown[][]} {
  const calls: unknown[][] = []
  const meta = new Map<string, string>()
  const engine: CopyEngine = {
    applyCopyBatch: async (...args) => {
      calls.push(args)
      return {applied: args[0].length, superseded: []} as unknown as Awaited<ReturnType<CopyEngine['applyCopyBatch']>>
    },
    metaValue: (name) => meta.get(name),
    setMetaValue: async (name, value) => void (value === null ? meta.delete(name) : meta.set(name, value)),
    adoptFloors: async (...args) => {
      calls.push(args)
      return 0
    },
  }
  return {engine, calls}
}

describe('meteredCopyEngine', () => {
  it('Given a copy slice that must not be fsync\'d, When it is applied through the node\'s copy engine, Then the storage engine gets durable = false (and every other argument)', async () => {
    const {engine, calls} = recordingEngine()
    const encoded = Buffer.from('batch')
    await meteredCopyEngine(engine, undefined).applyCopyBatch([], 'copy/1', '{"cursor":"c"}', encoded, false)
    expect(calls).toEqual([[[], 'copy/1', '{"cursor":"c"}', encoded, false]])
  })

  it('Given a committed batch, Then /metrics counts its key and value bytes as a `copy` apply', async () => {
    const {engine} = recordingEngine()
    const applied: [string, number][] = []
    const records = [{key: Buffer.from('k1'), version: 'v', value: Buffer.from('abc')}, {key: Buffer.from('k22'), version: 'v', value: null}]
    await meteredCopyEngine(engine, {applied: (kind, bytes) => void applied.push([kind, bytes])}).applyCopyBatch(records, 'copy/1', '{}', undefined, true)
    expect(applied).toEqual([['copy', 2 + 3 + 3]])
  })

  it("Given a copy source's gc floors, When adopted through the node's copy engine, Then the storage engine gets them with every argument (an adapter that dropped one would lose the floor or the drop)", async () => {
    const {engine, calls} = recordingEngine()
    const floors = [{lo: 0, hi: 10, floor: 5}]
    await meteredCopyEngine(engine, undefined).adoptFloors({lo: 0, hi: 10}, floors, true)
    expect(calls).toEqual([[{lo: 0, hi: 10}, floors, true]])
  })
})
