import {describe, expect, it} from 'vitest'
import {describeEvent, makeProgressSink, progressMode} from '../../src/cli/executorProgress.js'
import {type ThrottleStepEvent} from '../../src/executor/executorEnv.js'

describe('progressMode', () => {
  it('draws the spinner only when stderr, the stream it writes to, is a terminal', () => {
    expect(progressMode(false, {stderr: true})).toBe('spinner')
    expect(progressMode(false, {stderr: false})).toBe('lines')
  })

  it('writes JSON lines with --json, terminal or not', () => {
    expect(progressMode(true, {stderr: true})).toBe('json')
    expect(progressMode(true, {stderr: false})).toBe('json')
  })
})

describe('--throttle auto steps in the progress output', () => {
  const step = (action: ThrottleStepEvent['action'], rate: number): ThrottleStepEvent => ({type: 'throttle', signal: "routers' client p99", p99Ms: 31.24, samples: 412, windowMs: 1000, ageMs: 430, targetP99Ms: 22, action, rateBytesPerSec: rate, flowingBytesPerSec: 10 * 1024 * 1024, at: '2026-11-30T17:00:00.000Z'})

  it('says what was read, how fresh and how well sampled, and what it did to the rate', () => {
    expect(describeEvent(step('cut', 7 * 1024 * 1024))).toBe("auto throttle: routers' client p99 31.2 ms (412 samples over 1.0 s, 0.4 s old) vs target 22 ms, copies flowing at 10.0 MiB/s → copy rate cut to 7.0 MiB/s")
    expect(describeEvent({...step('settling', 1024), p99Ms: null})).toContain("routers' client p99 unknown")
    expect(describeEvent(step('settling', 1024))).toContain('held (settling) at 1.0 KiB/s')
  })

  it('prints a line in plain-lines mode only for a step that changed the rate (a step comes every second)', () => {
    const lines: string[] = []
    const sink = makeProgressSink('lines', (l) => lines.push(l))
    for (const a of ['hold', 'settling', 'raise', 'seen', 'cut', 'few samples'] as const) sink.emit(step(a, 1024))
    expect(lines.map((l) => /rate (\w+)/.exec(l)?.[1])).toEqual(['raised', 'cut'])
  })
})

describe('copy progress lines', () => {
  // The stream runs at 4 KiB/s, its key and value bytes at 1 KiB/s.
  const progress = (bytes: number, totalBytes: number) => ({type: 'progress' as const, move: 'm1', bytes, keys: 3, totalBytes, rateBytesPerSec: 4096, dataRateBytesPerSec: 1024, stalled: false, at: '2026-11-30T17:00:00.000Z'})

  it('shows the estimate only when there is one and the copy is within it', () => {
    expect(describeEvent(progress(4096, 8192))).toBe('move m1: copied 4.0 KiB (3 keys) of ~8.0 KiB, 1.0 KiB/s')
    expect(describeEvent(progress(4, 0))).toBe('move m1: copied 4 B (3 keys), 1.0 KiB/s')
    expect(describeEvent(progress(4, 2))).toBe('move m1: copied 4 B (3 keys), past the ~2 B estimate, 1.0 KiB/s')
  })

  it('shows the rate of the bytes it counts (key and value bytes), not the stream\'s (it printed "copied 0 B (0 keys), 235 B/s" for an empty shard)', () => {
    expect(describeEvent({...progress(0, 0), keys: 0, rateBytesPerSec: 235, dataRateBytesPerSec: 0})).toBe('move m1: copied 0 B (0 keys), 0 B/s')
    expect(describeEvent({...progress(4096, 8192), stalled: true})).toBe('move m1: copied 4.0 KiB (3 keys) of ~8.0 KiB, 1.0 KiB/s — STALLED')
  })
})
