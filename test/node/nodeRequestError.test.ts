import {describe, expect, it} from 'vitest'
import {NodeRequestError} from '../../src/node/nodeRequestError.js'

/** full is a NodeRequestError with every field set to a value that is not its default. */
function full(): NodeRequestError {
  return new NodeRequestError('STALE_EPOCH', 'node n2: shard 4 is at epoch 9', 'n2', 409, 9, {timedOut: true, storageFull: true, hint: 'refresh the shard map', cause: new Error('the socket')})
}

describe('NodeRequestError: toWire / fromWire', () => {
  it('Given an error with every field set, When it crosses a structured clone as its wire form, Then the rebuilt error has the same class and every field', () => {
    const err = full()
    const back = NodeRequestError.fromWire(structuredClone(err.toWire()))
    expect(back).toBeInstanceOf(NodeRequestError)
    expect(back.name).toBe('NodeRequestError')
    expect(back.code).toBe('STALE_EPOCH')
    expect(back.message).toBe('node n2: shard 4 is at epoch 9')
    expect(back.node).toBe('n2')
    expect(back.status).toBe(409)
    expect(back.nodeEpoch).toBe(9)
    expect(back.timedOut).toBe(true)
    expect(back.hint).toBe('refresh the shard map')
    expect(back.retriable).toBe(true)
  })

  it('Given every own field of a fully-populated error, Then the wire form carries each one and the rebuilt error has it back (a field added later and not carried fails here)', () => {
    const err = full()
    // `name` is the class itself, which fromWire restores by constructing it.
    const fields = Object.keys(err).filter((k) => k !== 'name')
    expect(fields.length).toBeGreaterThan(0)
    const wire = err.toWire()
    const back = NodeRequestError.fromWire(structuredClone(wire)) as unknown as Record<string, unknown>
    const own = err as unknown as Record<string, unknown>
    for (const k of [...fields, 'message']) {
      // A field the fixture leaves unset would round-trip as undefined whether carried or not.
      expect(own[k], `full() sets ${k}`).not.toBeUndefined()
      expect(Object.keys(wire), `the wire form carries ${k}`).toContain(k)
      expect(back[k], `${k} comes back`).toEqual(own[k])
    }
  })

  it('Given the wire form, Then it is plain data: a structured clone of it equals it', () => {
    const wire = full().toWire()
    expect(Object.getPrototypeOf(wire)).toBe(Object.prototype)
    expect(structuredClone(wire)).toEqual(wire)
  })
})
