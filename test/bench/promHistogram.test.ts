import {Histogram, Registry} from 'prom-client'
import {describe, expect, it} from 'vitest'
import {bucketsBetween, histogramBetween, histogramBuckets, histogramSumBetween, quantileBound, shareAbove, total} from '../../bench/promHistogram.js'

/** registryWith is a real prom-client histogram to observe into and render. */
function registryWith(): {observe: (op: string, status: string, s: number) => void; text: () => Promise<string>} {
  const registry = new Registry()
  const h = new Histogram({name: 'x_seconds', help: 'h', labelNames: ['op', 'status'], buckets: [0.01, 0.025, 0.05, 0.1], registers: [registry]})
  return {observe: (op, status, s) => h.observe({op, status}, s), text: () => registry.metrics()}
}

describe('promHistogram', () => {
  it('sums every series matching the labels and ignores the others', async () => {
    const r = registryWith()
    for (let i = 0; i < 10; i++) r.observe('apply', '200', 0.005)
    r.observe('apply', '503', 0.07)
    r.observe('get', '200', 0.2)
    const b = histogramBuckets(await r.text(), 'x_seconds', {op: 'apply'})
    expect(b?.le).toEqual([0.01, 0.025, 0.05, 0.1, Infinity])
    expect(b?.counts).toEqual([10, 10, 10, 11, 11])
    expect(histogramBuckets(await r.text(), 'x_seconds', {op: 'put'})).toBeUndefined()
    expect(histogramBuckets(await r.text(), 'y_seconds')).toBeUndefined()
  })

  it('subtracts an earlier scrape, so a window shows only what happened in it', async () => {
    const r = registryWith()
    for (let i = 0; i < 1000; i++) r.observe('apply', '200', 0.005)
    const before = histogramBuckets(await r.text(), 'x_seconds')
    for (let i = 0; i < 98; i++) r.observe('apply', '200', 0.005)
    r.observe('apply', '200', 0.04)
    r.observe('apply', '200', 0.09)
    const after = histogramBuckets(await r.text(), 'x_seconds')
    expect(after && quantileBound(after, 0.99)).toBe(0.01) // the old fast ones hide the slow tail
    const window = bucketsBetween(after!, before)
    expect(total(window)).toBe(100)
    expect(quantileBound(window, 0.99)).toBe(0.05) // the 99th of 100 is the 0.04 one
    expect(quantileBound(window, 1)).toBe(0.1)
    expect(quantileBound(window, 0.98)).toBe(0.01)
    expect(shareAbove(window, 0.025)).toBeCloseTo(0.02)
  })

  it('reads the buckets of matching series between two scrapes: only what the later one added, everything when the earlier one lacks the series, undefined when the later one does', async () => {
    const r = registryWith()
    r.observe('apply', '200', 0.2)
    const before = await r.text()
    r.observe('apply', '200', 0.005)
    r.observe('apply', '503', 0.04)
    r.observe('get', '200', 0.04)
    const after = await r.text()
    expect(histogramBetween(before, after, 'x_seconds', {op: 'apply'})).toEqual({le: [0.01, 0.025, 0.05, 0.1, Infinity], counts: [1, 1, 2, 2, 2]})
    expect(histogramBetween('', after, 'x_seconds', {op: 'apply'})?.counts).toEqual([1, 1, 2, 2, 3])
    expect(histogramBetween(after, before, 'x_seconds', {op: 'put'})).toBeUndefined()
    expect(histogramBetween(before, '', 'x_seconds')).toBeUndefined()
  })

  it('says Infinity when only +Inf holds the quantile and NaN with no observations', () => {
    expect(quantileBound({le: [0.1, Infinity], counts: [0, 5]}, 0.99)).toBe(Infinity)
    expect(quantileBound({le: [0.1, Infinity], counts: [0, 0]}, 0.99)).toBeNaN()
    expect(shareAbove({le: [0.1, Infinity], counts: [1, 2]}, 0.2)).toBeNaN()
  })

  it('sums the observed seconds of the matching series between two scrapes', async () => {
    const r = registryWith()
    r.observe('apply', '200', 0.5)
    const before = await r.text()
    r.observe('apply', '200', 0.25)
    r.observe('apply', '503', 1)
    r.observe('get', '200', 4)
    const after = await r.text()
    expect(histogramSumBetween(before, after, 'x_seconds', {op: 'apply'})).toBeCloseTo(1.25)
    expect(histogramSumBetween('', after, 'x_seconds', {op: 'apply', status: '200'})).toBeCloseTo(0.75)
    expect(histogramSumBetween(before, after, 'x_seconds', {op: 'put'})).toBeUndefined()
    expect(histogramSumBetween(before, after, 'y_seconds')).toBeUndefined()
  })
})
