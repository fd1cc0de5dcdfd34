import {readdirSync} from 'node:fs'
import {join, relative} from 'node:path'
import {describe, expect, it} from 'vitest'
import {TIMER_FLAG_MAX_MS} from '../../src/cli/flags.js'

const COMMANDS = join(import.meta.dirname, '../../commands')

/** commandFiles lists every command module under commands/ (the files oclif loads). */
function commandFiles(dir = COMMANDS): string[] {
  return readdirSync(dir, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? commandFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []))
}

describe('the help of a duration flag with the 24d timer maximum states it', () => {
  // Since session 39 `--interval 30d` and the like are refused (exit 2, "longer than the maximum
  // 24d"), but no help said so: an operator learnt the limit only from the refusal.
  it('Given every command, Then each flag refused above 24d says "at most 24d" in its help, and no other flag does', async () => {
    const bounded: string[] = []
    for (const file of commandFiles()) {
      const cmd = (await import(file)).default as {flags?: Record<string, {max?: number; description?: string}>}
      for (const [name, flag] of Object.entries(cmd.flags ?? {})) {
        const where = `${relative(COMMANDS, file)} --${name}`
        if (flag.max === TIMER_FLAG_MAX_MS) {
          bounded.push(where)
          expect(flag.description, where).toMatch(/; at most 24d$/)
        } else {
          expect(flag.description ?? '', where).not.toMatch(/at most 24d/)
        }
      }
    }
    expect(bounded).toContain('autopilot/index.ts --interval')
    expect(bounded.length).toBeGreaterThanOrEqual(10)
  }, 60_000)
})
