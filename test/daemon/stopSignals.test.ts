import {EventEmitter} from 'node:events'
import {describe, expect, it} from 'vitest'
import {STOP_SIGNALS, StopSignals} from '../../src/daemon/stopSignals.js'

function watched(): {source: EventEmitter; exits: number[]; signals: StopSignals} {
  const source = new EventEmitter()
  const exits: number[] = []
  return {source, exits, signals: new StopSignals(source, (code) => exits.push(code))}
}

describe('StopSignals', () => {
  it.each(STOP_SIGNALS)('the first %s resolves signalled with it and aborts the start-up signal, without exiting', async (sig) => {
    const {source, exits, signals} = watched()
    expect(signals.abort.aborted).toBe(false)
    source.emit(sig, sig)
    expect(signals.abort.aborted).toBe(true)
    expect(await signals.signalled).toBe(sig)
    expect(exits).toEqual([])
  })

  it('a second signal of either kind exits 1 at once; the first one stays the reason', async () => {
    const {source, exits, signals} = watched()
    source.emit('SIGINT', 'SIGINT')
    source.emit('SIGTERM', 'SIGTERM')
    expect(exits).toEqual([1])
    expect(await signals.signalled).toBe('SIGINT')
  })

  it('after stoppingForAnotherReason the first signal already exits 1 and aborts nothing', () => {
    const {source, exits, signals} = watched()
    signals.stoppingForAnotherReason()
    source.emit('SIGTERM', 'SIGTERM')
    expect(exits).toEqual([1])
    expect(signals.abort.aborted).toBe(false)
  })

  it('once the stop is done (stopped), a signal exits 0 at once: it only cuts the exit linger', () => {
    const {source, exits, signals} = watched()
    source.emit('SIGTERM', 'SIGTERM')
    signals.stopped()
    source.emit('SIGINT', 'SIGINT')
    expect(exits).toEqual([0])
  })

  it('dispose removes its handlers from every stop signal, and twice is harmless', () => {
    const {source, exits, signals} = watched()
    for (const s of STOP_SIGNALS) expect(source.listenerCount(s)).toBe(1)
    signals.dispose()
    signals.dispose()
    for (const s of STOP_SIGNALS) expect(source.listenerCount(s)).toBe(0)
    source.emit('SIGTERM', 'SIGTERM')
    expect(signals.abort.aborted).toBe(false)
    expect(exits).toEqual([])
  })
})
