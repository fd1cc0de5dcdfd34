import {readdirSync, readFileSync} from 'node:fs'
import {join, relative, resolve} from 'node:path'
import {describe, expect, it} from 'vitest'
import {MOCKING_UNIT_FILES} from './unitProjects.js'

const root = resolve(import.meta.dirname, '../..')

/** unitFiles lists the test files of the unit projects (UNIT_INCLUDE less UNIT_EXCLUDE), from the repository root. */
function unitFiles(): string[] {
  const out: string[] = []
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, {withFileTypes: true})) {
      const p = join(dir, e.name)
      const rel = relative(root, p)
      if (e.isDirectory()) {
        if (!['test/integration', 'test/e2e', 'test/fuzz/live'].includes(rel) && e.name !== 'node_modules') walk(p)
      } else if (/\.test\.tsx?$/.test(e.name)) out.push(rel)
    }
  }
  walk(join(root, 'test'))
  return out
}

describe('the unit projects (vitest.config.ts)', () => {
  it('run every unit file that mocks a module in `unit-isolated`, and only those: `unit` shares one module graph per worker, so a mock there would reach the files after it', () => {
    const files = unitFiles()
    expect(files.length).toBeGreaterThan(100)
    const mocking = files.filter((f) => /\bvi\.(do)?[mM]ock\(/.test(readFileSync(join(root, f), 'utf8'))).sort()
    expect(mocking).toEqual([...MOCKING_UNIT_FILES].sort())
  })
})
