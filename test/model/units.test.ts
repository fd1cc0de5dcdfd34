import {describe, expect, it} from 'vitest'
import {parseCapacity, parseWeights} from '../../src/model/resources.js'
import {MIN_FRAME_BYTES} from '../../src/node/copyFrames.js'
import {formatBytes, MIN_RATE_BYTES_PER_SEC, parseBytes, parseDecimal, parseRate} from '../../src/model/units.js'

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

  it('names a bad rate as a rate, and refuses a rate below one smallest copy frame a second (0 included: a copy at 0 B/s would wait forever)', () => {
    for (const bad of ['fast', '-5MiB/s', '10MiB/h', '']) expect(() => parseRate(bad)).toThrow(/is not a rate; use bytes per second such as 50MiB\/s/)
    for (const slow of ['0', '0MiB/s', '0.1', '0.5', '1', '16383', '15KiB/s']) expect(() => parseRate(slow)).toThrow(/not a usable rate: .*use at least 16KiB\/s/)
    expect(parseRate('16KiB/s')).toBe(16 * 1024)
    expect(parseRate('16384')).toBe(16384)
    expect(parseRate('64KiB/s')).toBe(64 * 1024)
  })

  it('names a well-formed rate too large for a number as too large, not as malformed', () => {
    for (const big of ['99999999999999999999999', '99999999999TiB/s']) expect(() => parseRate(big), big).toThrow(new RangeError(`"${big}" is too large a rate; use bytes per second such as 1GiB/s`))
  })

  it('keeps the slowest rate at one smallest copy frame a second (a slower one holds a frame past the destination\'s patience)', () => {
    expect(MIN_RATE_BYTES_PER_SEC).toBeGreaterThanOrEqual(MIN_FRAME_BYTES)
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

  it('refuses a list that names nothing (an empty --capacity is a mistake, not "no change")', () => {
    for (const empty of ['', ' ', ',', ' , ']) {
      expect(() => parseCapacity(empty)).toThrow(/names nothing; expected key=value pairs such as reads=100 \(keys: reads, writes, bytes\)/)
      expect(() => parseWeights(empty)).toThrow(/names nothing/)
    }
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

// Number() took reads=0x10 as 16 and --max-imbalance 0x10 as 16: a typo stored or planned on without a word.
describe('parseDecimal', () => {
  it('reads plain decimal numbers, blanks around them allowed', () => {
    expect(parseDecimal('5000')).toBe(5000)
    expect(parseDecimal(' 1.5 ')).toBe(1.5)
    expect(parseDecimal('.5')).toBe(0.5)
    expect(parseDecimal('-2')).toBe(-2)
  })

  it('reads no other notation Number() takes: hex, binary, octal, exponents, Infinity, nothing', () => {
    for (const bad of ['0x10', '0X10', '0b11', '0o7', '1e3', 'Infinity', '-Infinity', 'NaN', '', ' ', '1_000', '+-1', '1.2.3']) expect(parseDecimal(bad), bad).toBeNaN()
  })

  it('is what capacities and weights read: reads=0x10 is refused, not stored as 16', () => {
    for (const bad of ['reads=0x10', 'writes=0b11', 'reads=1e3']) expect(() => parseCapacity(bad), bad).toThrow(/must be a number > 0/)
    for (const bad of ['reads=0x10', 'bytes=0o7']) expect(() => parseWeights(bad), bad).toThrow(/must be a finite number >= 0/)
  })
})
