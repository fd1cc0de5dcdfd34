import {describe, expect, it} from 'vitest'
// @ts-expect-error: a plain ESM script without type declarations
import {longFunctions} from '../../scripts/long-functions.js'

/** body makes `n` lines of statements. */
const body = (n: number) => Array.from({length: n}, (_, i) => `  const v${i} = ${i}`).join('\n')

describe('long-functions', () => {
  it('Given functions of every shape around the limit, When scanned, Then exactly those over it are listed with their names and full line counts', () => {
    const source = [
      `export function atLimit() {\n${body(58)}\n}`, // 60 lines with signature and brace
      `export function overLimit() {\n${body(59)}\n}`, // 61
      `const arrow = async () => {\n${body(70)}\n}`, // 72
      `class Box {\n  method() {\n${body(61)}\n  }\n  constructor() {\n${body(3)}\n  }\n}`, // method: 63
      `export function outer() {\n  const inner = () => {\n${body(61)}\n  }\n  return inner\n}`, // inner 63, outer 66
    ].join('\n\n')
    const found = longFunctions('x.ts', source, 60) as {name: string; lines: number; line: number}[]
    expect(found.map((f) => [f.name, f.lines]).sort()).toEqual(
      [
        ['overLimit', 61],
        ['arrow', 72],
        ['Box.method', 63],
        ['outer', 66],
        ['inner', 63],
      ].sort(),
    )
    expect(found.find((f) => f.name === 'overLimit')?.line).toBe(62) // after atLimit's 60 lines and a blank one
  })
})
