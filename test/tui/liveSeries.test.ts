import {describe, expect, it} from 'vitest'
import {RouterRecordSchema} from '../../src/router/routerRegistration.js'
import {appendSample, nextRouterFigures, SERIES_LIMIT, sampleOf} from '../../src/tui/liveSeries.js'
import {router} from './fixtures.js'

const record = (atMs: number, requests: number, errors: number, p99: number | null = 5) => RouterRecordSchema.parse(JSON.parse(router('r1', atMs, requests, errors, p99).value!))

describe('nextRouterFigures', () => {
  it('Given a first publication, When folded, Then the rate is unknown and no error counts as seen', () => {
    const f = nextRouterFigures(undefined, record(0, 1000, 3))
    expect(f).toMatchObject({requests: 1000, errors: 3, reqPerSec: null, errorsSeen: 0, p99Ms: 5})
  })

  it('Given two publications 5 s apart, When folded, Then the rate is the difference over the time and new errors count', () => {
    const f = nextRouterFigures(nextRouterFigures(undefined, record(0, 1000, 3)), record(5000, 1750, 5))
    expect(f.reqPerSec).toBe(150)
    expect(f.errorsSeen).toBe(2)
  })

  it('Given the same publication twice, When folded, Then the figures object is unchanged', () => {
    const a = nextRouterFigures(undefined, record(0, 10, 0))
    expect(nextRouterFigures(a, record(0, 10, 0))).toBe(a)
  })

  it('Given totals that went down (router restarted), When folded, Then the rate restarts unknown and its errors since start count', () => {
    const a = nextRouterFigures(nextRouterFigures(undefined, record(0, 1000, 0)), record(5000, 2000, 0))
    const b = nextRouterFigures(a, record(10_000, 40, 1))
    expect(b.reqPerSec).toBeNull()
    expect(b.errorsSeen).toBe(1)
  })
})

describe('sampleOf and appendSample', () => {
  it('Given two routers, When sampled, Then rates and errors add up and the p99 is the worst', () => {
    const r1 = {id: 'r1', at: 0, p99Ms: 4, requests: 0, errors: 0, reqPerSec: 100, errorsSeen: 1}
    const r2 = {id: 'r2', at: 0, p99Ms: 9, requests: 0, errors: 0, reqPerSec: 50, errorsSeen: 0}
    expect(sampleOf(7, [r1, r2], 1024, 2048)).toEqual({at: 7, copyRate: 1024, throttle: 2048, reqPerSec: 150, p99Ms: 9, errors: 1})
    expect(sampleOf(7, [], 0, null)).toEqual({at: 7, copyRate: 0, throttle: null, reqPerSec: null, p99Ms: null, errors: 0})
  })

  it('Given a full series, When a sample is appended, Then the oldest goes and the length stays at SERIES_LIMIT', () => {
    let series = appendSample([], sampleOf(0, [], 0, null))
    for (let i = 1; i <= SERIES_LIMIT; i++) series = appendSample(series, sampleOf(i, [], i, null))
    expect(series).toHaveLength(SERIES_LIMIT)
    expect(series[0]!.at).toBe(1)
    expect(series.at(-1)!.at).toBe(SERIES_LIMIT)
  })
})
