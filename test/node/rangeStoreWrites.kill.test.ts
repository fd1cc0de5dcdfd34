import {spawn} from 'node:child_process'
import {existsSync, statSync} from 'node:fs'
import {join} from 'node:path'
import {createInterface} from 'node:readline'
import {fileURLToPath} from 'node:url'
import Database from 'better-sqlite3'
import {describe, expect, it} from 'vitest'
import {DB_FILE} from '../../src/node/lwwSql.js'
import {rangeStorePath} from '../../src/node/rangeStoreFiles.js'
import {trackPid, untrackPid} from '../support/processReaper.js'
import {ALL, engineFixture} from './engineFixture.js'
import {keyHash} from '../../src/model/hash.js'
import {addRangeStores, keysIn, RANGES, S1, S2, SPAN1, SPAN2, storeMeta} from './rangeStoreFixture.js'

const child = fileURLToPath(new URL('../support/children/routedGroupKill.mjs', import.meta.url))
const copyChild = fileURLToPath(new URL('../support/children/routedCopyKill.mjs', import.meta.url))
const root = fileURLToPath(new URL('../../', import.meta.url))
const open = engineFixture('rangekill', {writerThread: false, readRangeStores: true})

/** distFresh fails when the child's modules in dist/ are missing or older than their source (run `npm run build`). */
function distFresh(): void {
  for (const m of ['src/node/storageEngine', 'src/node/storageWriterCore', 'src/node/storeWriters', 'src/node/recordRouting', 'src/node/lwwSql']) {
    const built = `${root}dist/${m}.js`
    if (!existsSync(built) || statSync(built).mtimeMs < statSync(`${root}${m}.ts`).mtimeMs) throw new Error(`dist/${m}.js is missing or older than ${m}.ts: run \`npm run build\``)
  }
}

/** runChild runs the child on `dir` until it dies; returns the groups it printed as acknowledged and how it ended. */
async function runChild(dir: string, groups: string[][], killAt: number, afterCommits: number): Promise<{acked: number[]; signal: NodeJS.Signals | null}> {
  const proc = spawn(process.execPath, [child, dir, JSON.stringify(groups), String(killAt), String(afterCommits)], {stdio: ['ignore', 'pipe', 'inherit']})
  trackPid(proc.pid)
  const acked: number[] = []
  createInterface({input: proc.stdout!}).on('line', (line) => {
    const [what, n] = line.split(' ')
    if (what === 'acked') acked.push(Number(n))
  })
  const signal = await new Promise<NodeJS.Signals | null>((resolve) => proc.once('exit', (_code, sig) => resolve(sig)))
  untrackPid(proc.pid)
  return {acked, signal}
}

describe('a group spanning range stores across a SIGKILL', {timeout: 120_000}, () => {
  for (const afterCommits of [1, 2]) {
    it(`given groups of client writes over the main file and two range stores, when the process is SIGKILLed after ${afterCommits} of a group's 3 per-store commits, then after reopening every acknowledged write reads back, the group's committed part is there, and every digest equals a one-file twin of the rows`, async () => {
      distFresh()
      const {engine: made, dir} = open()
      const id = made.dataDirId()
      await made.close()
      addRangeStores(dir, id)
      const n = 12
      const below = keysIn({lo: 0, hi: SPAN1.lo}, n, 'm')
      const one = keysIn(SPAN1, n, 's')
      const two = keysIn(SPAN2, n, 't')
      const groups = below.map((k, g) => [k, one[g]!, two[g]!])
      const killAt = 8
      const {acked, signal} = await runChild(dir, groups, killAt, afterCommits)
      expect(signal).toBe('SIGKILL')
      expect(acked).toEqual(Array.from({length: killAt}, (_, g) => g))

      const engine = open({}, dir).engine
      const lost = acked.flatMap((g) => groups[g]!.filter((k) => engine.get(Buffer.from(k))?.value?.toString() !== `g${g}`))
      expect(lost).toEqual([])
      // Stores commit in hash order (main part, S1, S2): exactly the first `afterCommits` parts of the killed group landed.
      const landed = groups[killAt]!.map((k) => engine.get(Buffer.from(k))?.value?.toString() === `g${killAt}`)
      expect(landed).toEqual([0, 1, 2].map((i) => i < afterCommits))
      // The cells of every store were committed with its rows: digests equal one file holding the same rows.
      const {engine: twin} = open({readRangeStores: false})
      await twin.apply(engine.scan(ALL, undefined, 1 << 24).records)
      for (const range of RANGES) expect(engine.digest(range)).toEqual(twin.digest(range))
      expect(engine.totals()).toEqual(twin.totals())
      for (const file of [join(dir, DB_FILE), rangeStorePath(dir, S1), rangeStorePath(dir, S2)]) {
        const db = new Database(file, {readonly: true})
        try {
          expect(db.pragma('quick_check', {simple: true})).toBe('ok')
        } finally {
          db.close()
        }
      }
    })
  }
})

describe('a copy frame moving its resume state into a range store across a SIGKILL', {timeout: 120_000}, () => {
  for (const afterCommits of [1, 2, 3]) {
    it(`given a copy's state in the main file, when the process is SIGKILLed after ${afterCommits} of the 3 commits of a frame that ends in a range store, then after reopening a state is stored (the one before the frame or after it), never none`, async () => {
      distFresh()
      const {engine: made, dir} = open()
      const id = made.dataDirId()
      await made.close()
      addRangeStores(dir, id)
      const byHash = (ks: string[]) => ks.sort((a, b) => keyHash(Buffer.from(a)) - keyHash(Buffer.from(b)))
      const main = byHash(keysIn({lo: 0, hi: SPAN1.lo}, 3, 'm'))
      const second = byHash([...main, ...keysIn(SPAN1, 3, 's')])
      const proc = spawn(process.execPath, [copyChild, dir, JSON.stringify(main), JSON.stringify(second), String(afterCommits)], {stdio: ['ignore', 'pipe', 'inherit']})
      trackPid(proc.pid)
      const lines: string[] = []
      createInterface({input: proc.stdout!}).on('line', (line) => lines.push(line))
      const signal = await new Promise<NodeJS.Signals | null>((resolve) => proc.once('exit', (_code, sig) => resolve(sig)))
      untrackPid(proc.pid)
      expect(signal).toBe('SIGKILL')
      expect(lines).toEqual(['first'])
      const engine = open({}, dir).engine
      expect(['one', 'two']).toContain(engine.metaValue('copy/1'))
      const held = [undefined, S1, S2].map((s) => storeMeta(dir, s, 'copy/1')).filter((x) => x !== undefined)
      expect(held.length).toBeGreaterThan(0)
    })
  }
})
