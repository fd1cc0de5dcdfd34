import {describe, expect, it} from 'vitest'
import {parseCapacity, parseWeights} from '../../src/model/resources.js'
import {formatBytes, parseBytes, parseRate} from '../../src/model/units.js'

describe('parseBytes', () => {
  it('reads binary and decimal units', () => {
    expect(parseBytes('4096')).toBe(4096)
    expect(parseBytes('1KiB')).toBe(1024)
    expect(parseBytes('1.5MiB')).toBe(1.5 * 2 ** 20)
    expect(parseBytes('100GiB')).toBe(100 * 2 ** 30)
    expect(parseBytes('1GB')).toBe(1e9)
    expect(parseBytes('512k')).toBe(512 * 1024)
    expect(parseRate('50MiB/s')).toBe(50 * 2 ** 20)
  })

  it('names the bad input', () => {
    for (const bad of ['', 'abc', '-1', '1XB', '1e3', 'NaN']) expect(() => parseBytes(bad)).toThrow(/is not a size/)
  })

  it('names a bad rate as a rate, and refuses a zero rate (a copy at 0 B/s would wait forever)', () => {
    for (const bad of ['fast', '-5MiB/s', '10MiB/h', '']) expect(() => parseRate(bad)).toThrow(/is not a rate; use bytes per second such as 50MiB\/s/)
    for (const zero of ['0', '0MiB/s', '0.1']) expect(() => parseRate(zero)).toThrow(/not a usable rate: a copy throttled to 0 never finishes/)
    expect(parseRate('1')).toBe(1)
    expect(parseRate('64KiB/s')).toBe(64 * 1024)
  })

  it('formats with binary units', () => {
    expect(formatBytes(512)).toBe('512 B')
    expect(formatBytes(1536)).toBe('1.5 KiB')
    expect(formatBytes(100 * 2 ** 30)).toBe('100 GiB')
  })
})

describe('parseCapacity / parseWeights', () => {
  it('reads any subset of resources', () => {
    expect(parseCapacity('reads=5000,writes=2000,bytes=100GiB')).toEqual({reads: 5000, writes: 2000, bytes: 100 * 2 ** 30})
    expect(parseCapacity('bytes=1TiB')).toEqual({bytes: 2 ** 40})
    expect(parseWeights('writes=2,bytes=0.5')).toEqual({reads: 1, writes: 2, bytes: 0.5})
  })

  it('rejects unknown keys, repeats, negatives, zero capacity and NaN', () => {
    expect(() => parseCapacity('cpu=4')).toThrow(/unknown key "cpu"/)
    expect(() => parseCapacity('reads=1,reads=2')).toThrow(/given twice/)
    expect(() => parseCapacity('reads=-5')).toThrow(/> 0/)
    expect(() => parseCapacity('reads=0')).toThrow(/> 0/)
    expect(() => parseCapacity('writes=abc')).toThrow(/> 0/)
    expect(() => parseWeights('reads=NaN')).toThrow(/finite/)
    expect(() => parseWeights('reads')).toThrow(/key=value/)
  })

  // An operator who typed reads=-5 was told ">= 0", then "> 0" for the 0 they tried next.
  it('states the one rule for every capacity it refuses: a number above 0', () => {
    for (const bad of ['reads=-5', 'reads=0', 'writes=abc', 'reads=Infinity']) {
      expect(() => parseCapacity(bad)).toThrow(/must be a number > 0/)
      expect(() => parseCapacity(bad)).not.toThrow(/>= 0/)
    }
  })
})
