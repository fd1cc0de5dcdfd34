import {type ChildProcessWithoutNullStreams, spawn} from 'node:child_process'
import {existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, describe, expect, it} from 'vitest'
import {trackPid, untrackPid} from '../support/processReaper.js'
import {HAS_SCRIPT as hasScript, screenText} from '../support/pty.js'
import {CLI_BIN} from '../support/runCli.js'

/**
 * `shardctl demo` (the full story) as a new user watches it: the real binary in a
 * pseudo-terminal (util-linux `script`), 120×40, real etcd, nodes, router and client
 * load. The frames must show, in this order: a plan summary, a move row with a partly
 * filled progress bar and a rate, a pause acknowledged on `p` (and a resume on the second
 * `p`), and the final summary — with the clients panel showing a non-zero request rate
 * and zero errors while moves run. Nothing may be left running or on disk.
 */

const dirs: string[] = []
afterAll(() => {
  for (const d of dirs) rmSync(d, {recursive: true, force: true})
})

/** PARTIAL_ROW is a copying move whose bar is partly filled (1-99 %) with a rate. */
const PARTIAL_ROW = /copying +[█▏▎▍▌▋▊▉]*[▏▎▍▌▋▊▉█]·+ +([1-9]\d?)% +[\d.]+ (?:B|KiB|MiB)\/s/
/** CLIENTS_BUSY is the clients panel with a non-zero request rate and zero errors. */
const CLIENTS_BUSY = /CLIENTS +[1-9]\d* req\/s .*errors 0/

describe.skipIf(!hasScript)('shardctl demo in a pseudo-terminal', () => {
  it('Given a terminal, When the secure demo runs, Then it shows a plan, a filling bar with a rate, reacts to p, shows busy clients with zero errors, and ends with the summary', async () => {
    const cwd = mkdtempSync(join(tmpdir(), 'shardctl-demo-pty-'))
    dirs.push(cwd)
    const cmd = `stty cols 120 rows 40 && exec ${process.execPath} ${CLI_BIN} demo --secure --preload 2MiB --shards 16 --moves-per-act 2 --rate 60`
    const child: ChildProcessWithoutNullStreams = spawn('script', ['-qfec', cmd, '/dev/null'], {cwd, env: {PATH: process.env.PATH, HOME: cwd, TERM: 'xterm-256color'}})
    trackPid(child.pid)
    let raw = ''
    child.stdout.on('data', (d) => (raw += d))
    child.stderr.on('data', (d) => (raw += d))
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)))
    const screen = () => screenText(raw)
    /** at waits until `re` matches the screen after offset `from` and returns where it matched. */
    const at = async (what: string, re: RegExp, from: number, timeoutMs: number): Promise<number> => {
      const deadline = Date.now() + timeoutMs
      while (Date.now() < deadline) {
        const s = screen()
        const m = re.exec(s.slice(from))
        if (m) return from + m.index
        if (/Summary \(FAILED\)|Error:/.test(s)) break
        await new Promise((r) => setTimeout(r, 200))
      }
      throw new Error(`timed out waiting for ${what}; screen so far:\n${screen().slice(-4000)}`)
    }
    try {
      const plan = await at('a plan summary', /plan for act 1: fill n5: \d+ moves, imbalance/, 0, 240_000)
      const bar = await at('a partly filled move with a rate', PARTIAL_ROW, plan, 120_000)
      await at('busy clients with zero errors', CLIENTS_BUSY, plan, 60_000)
      child.stdin.write('p')
      const paused = await at('the pause acknowledged', /moves paused/, bar, 30_000)
      await at('the header saying paused', /executor paused/, paused, 30_000)
      child.stdin.write('p')
      const resumed = await at('the resume acknowledged', /moves resumed/, paused, 30_000)
      const summary = await at('the final summary', /Summary \(success\)/, resumed, 700_000)
      // The summary reaches the terminal in more than one write: read it once the demo has ended
      // (under load the rest of it came after the first line was seen).
      const code = await Promise.race([exited, new Promise((r) => setTimeout(() => r('timeout'), 60_000))])
      const text = screen().slice(summary)
      expect(text).toMatch(/act 1: fill n5 +\d+\/\d+ moves/)
      expect(text).toMatch(/act 3: drain n4 +(\d+)\/\1 moves/)
      expect(text).toMatch(/clients +[1-9]\d* requests, 0 errors/)
      expect(text).toMatch(/n5 +.* n\/a  →  .*\d\.\d\dx/)
      expect(text).toMatch(/security +TLS on every hop .*authentication on/)
      expect(code).toBe(0)
      const demoDir = join(cwd, '.shardctl', 'demo')
      expect(existsSync(demoDir) ? readdirSync(demoDir) : []).toEqual([])
    } finally {
      // SHARDCTL_DEMO_SCREEN=<file> keeps what the terminal showed (the README's frames come from it).
      if (process.env.SHARDCTL_DEMO_SCREEN) writeFileSync(process.env.SHARDCTL_DEMO_SCREEN, screen())
      child.kill('SIGKILL')
      untrackPid(child.pid)
    }
  }, 900_000)
})
