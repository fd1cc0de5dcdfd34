import {existsSync, lstatSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {isUserError, type UserError} from '../../src/errors/errors.js'
import {readPlanFile, readSnapshotFile, writePlanFile, writeSnapshotFile} from '../../src/plans/planFiles.js'
import {snapshotDestination} from '../../src/plans/snapshotExport.js'
import {assertWithinTarget, computePlan, planOptionsFromFlags} from '../../src/plans/planService.js'
import {imbalanceLine, renderPlanText} from '../../src/planner/render/planText.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'
import {errorOf} from '../support/errorOf.js'

let dir: string
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'shardctl-plans-'))))
afterEach(() => rmSync(dir, {recursive: true, force: true}))

const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: Array.from({length: 4}, () => ({replicas: ['a'], reads: 10, bytes: 100}))})
const now = new Date('2026-01-02T03:04:05.678Z')

function write(name: string, value: unknown): string {
  const path = join(dir, name)
  writeFileSync(path, typeof value === 'string' ? value : JSON.stringify(value))
  return path
}


describe('plan files', () => {
  it('given an exported snapshot, when written and read back, then it is unchanged and its fingerprint still checks', () => {
    const path = join(dir, 'sub', 'snap.json')
    writeSnapshotFile(snap, path)
    expect(readSnapshotFile(path)).toEqual(snap)
    expect(readFileSync(path, 'utf8').endsWith('}\n')).toBe(true)
  })

  it('given export destinations, when resolved, then --out wins (- is stdout), a pipe gets stdout and a terminal gets plans/<cluster>-snapshot-<timestamp>.json', () => {
    const ctx = {now, cwd: '/w'}
    expect(snapshotDestination('c1', {...ctx, out: 'x.json', stdoutIsTerminal: false})).toBe('x.json')
    expect(snapshotDestination('c1', {...ctx, out: '-', stdoutIsTerminal: true})).toBeNull()
    expect(snapshotDestination('c1', {...ctx, stdoutIsTerminal: false})).toBeNull()
    expect(snapshotDestination('c1', {...ctx, stdoutIsTerminal: true})).toBe('/w/plans/c1-snapshot-20260102T030405678Z.json')
  })

  it('given --out naming a device (here a link to /dev/null), when written, then the device is written in place, never replaced by a file', () => {
    // Renaming a temp file over /dev/null would turn it into a regular file for the whole machine.
    const link = join(dir, 'out.json')
    symlinkSync('/dev/null', link)
    const {plan} = computePlan(snap, {}, {now, cwd: dir, write: false})
    writePlanFile(plan, link)
    expect(lstatSync(link).isSymbolicLink()).toBe(true)
    expect(lstatSync('/dev/null').isCharacterDevice()).toBe(true)
  })

  it('given --out naming a directory or a path under a file, when written, then BAD_INPUT says so and nothing is written (it was "unexpected failure … this is a bug")', () => {
    const {plan} = computePlan(snap, {}, {now, cwd: dir, write: false})
    const intoDir = errorOf(() => writePlanFile(plan, dir))
    expect(isUserError(intoDir, 'BAD_INPUT')).toBe(true)
    expect(intoDir.message).toBe(`cannot write ${dir}: it is a directory; nothing was written`)
    const file = write('plain.json', '{}')
    const underFile = errorOf(() => writeSnapshotFile(snap, join(file, 'snap.json')))
    expect(isUserError(underFile, 'BAD_INPUT')).toBe(true)
    expect(underFile.message).toBe(`cannot write ${join(file, 'snap.json')}: it or a parent of it is a file; nothing was written`)
    expect(readFileSync(file, 'utf8')).toBe('{}')
  })

  it('given an empty path (a variable left unset), when read or written, then BAD_INPUT says the path is empty (it said `plan : cannot read it` and, writing, rename \'.PID.tmp\' -> \'\')', () => {
    const {plan} = computePlan(snap, {}, {now, cwd: dir, write: false})
    const written = errorOf(() => writePlanFile(plan, ''))
    expect(isUserError(written, 'BAD_INPUT')).toBe(true)
    expect(written.message).toBe('cannot write to an empty path; nothing was written')
    // Each file kind's hint names its own kind of file (snapshot export's said plan.json).
    expect((written as UserError).hint).toContain('--out plan.json')
    expect((errorOf(() => writeSnapshotFile(snap, '')) as UserError).hint).toContain('--out snapshot.json')
    for (const read of [() => readPlanFile(''), () => readSnapshotFile(' ')]) {
      const err = errorOf(read)
      expect(isUserError(err, 'BAD_INPUT')).toBe(true)
      expect(err.message).toMatch(/^the (plan|snapshot) file path is empty$/)
    }
  })

  it('given a path it cannot read, when read, then the reason is in words, not an errno code (it said "cannot read it (EISDIR)")', () => {
    expect(errorOf(() => readPlanFile(dir)).message).toBe(`plan ${dir}: cannot read it (it is a directory)`)
    const file = write('plain.json', '{}')
    expect(errorOf(() => readSnapshotFile(join(file, 'x.json'))).message).toBe(`snapshot ${join(file, 'x.json')}: cannot read it (a parent of it is a file)`)
    expect(errorOf(() => readPlanFile(join(dir, 'missing.json'))).message).toBe(`plan ${join(dir, 'missing.json')}: cannot read it (no such file)`)
  })

  it('given a snapshot, when planned with defaults, then the plan lands in plans/<cluster>-<timestamp>.json and reads back verified', () => {
    const {plan, file} = computePlan(snap, {}, {now, cwd: dir, write: true})
    expect(file).toBe(join(dir, 'plans', 'test-20260102T030405678Z.json'))
    expect(plan.id).toBe('test-20260102T030405678Z')
    expect(plan.createdAt).toBe('2026-01-02T03:04:05.678Z')
    expect(readPlanFile(file!)).toEqual(plan)
  })

  it('given --check without --out, when planned, then nothing is written', () => {
    expect(computePlan(snap, {}, {now, cwd: dir, write: false}).file).toBeNull()
    expect(existsSync(join(dir, 'plans'))).toBe(false)
  })

  it('given an --out path that cannot be written (under a file, under /proc), when planned, then BAD_INPUT names the path and nothing is left behind', () => {
    writeFileSync(join(dir, 'a-file'), 'x')
    const outs = [join(dir, 'a-file', 'plan.json'), ...(existsSync('/proc/self') ? ['/proc/nope/plan.json'] : [])]
    for (const out of outs) {
      const err = errorOf(() => computePlan(snap, {}, {now, cwd: dir, out, write: true}))
      expect(isUserError(err, 'BAD_INPUT'), err.message).toBe(true)
      expect(err.message).toMatch(new RegExp(`^cannot write ${out}: (it or a parent of it is a file|no such file or directory|ENOENT\\b.*); nothing was written$`))
    }
    expect(readdirSync(dir)).toEqual(['a-file'])
  })

  it('given a snapshot where a plan is expected, or a plan where a snapshot is, when read, then BAD_INPUT names what the file is and what to run (it said "id: Invalid input")', () => {
    const {plan} = computePlan(snap, {}, {now, cwd: dir, write: false})
    const snapFile = join(dir, 'snap.json')
    const planFile = join(dir, 'plan.json')
    writeSnapshotFile(snap, snapFile)
    writePlanFile(plan, planFile)
    const asPlan = errorOf(() => readPlanFile(snapFile))
    expect(isUserError(asPlan, 'BAD_INPUT')).toBe(true)
    expect(asPlan.message).toBe(`${snapFile} is a cluster snapshot (\`shardctl snapshot export\`), not a plan`)
    expect((asPlan as UserError).hint).toContain(`shardctl plan --snapshot ${snapFile}`)
    const asSnapshot = errorOf(() => readSnapshotFile(planFile))
    expect(isUserError(asSnapshot, 'BAD_INPUT')).toBe(true)
    expect(asSnapshot.message).toBe(`${planFile} is a plan (\`shardctl plan\`), not a cluster snapshot`)
    expect(readPlanFile(planFile)).toEqual(plan)
    expect(readSnapshotFile(snapFile)).toEqual(snap)
  })

  it('given a tampered plan, when read, then BAD_INPUT says it was modified', () => {
    const {file} = computePlan(snap, {}, {now, cwd: dir, write: true})
    const plan = JSON.parse(readFileSync(file!, 'utf8'))
    plan.actions[0].to = 'zzz'
    const e = errorOf(() => readPlanFile(write('t.json', plan)))
    expect(isUserError(e, 'BAD_INPUT')).toBe(true)
    expect(e.message).toMatch(/hash: the plan was modified after it was computed/)
  })

  it('given a malformed plan, when read, then the one-line error names the field path', () => {
    const {plan} = computePlan(snap, {}, {now, cwd: dir, write: false})
    const bad = structuredClone(plan) as {actions: {bytes: number}[]}
    bad.actions[0]!.bytes = -1
    expect(errorOf(() => readPlanFile(write('m.json', bad))).message).toMatch(/^plan .*m\.json: actions\[0\]\.bytes: /)
    expect(errorOf(() => readPlanFile(write('x.json', '{"version": 1,'))).message).toMatch(/not valid JSON/)
    expect(errorOf(() => readPlanFile(join(dir, 'missing.json'))).message).toMatch(/no such file/)
  })

  // `plan verify notes.txt` (a text file "hello\n") said: not valid JSON (Unexpected token 'h', "hello)
  // — the parser's excerpt was cut at the file's newline, leaving the rest of its sentence off.
  it('given a text file that is not JSON, when read, then the parser\'s whole sentence is kept on one line', () => {
    const message = errorOf(() => readPlanFile(write('notes.txt', 'hello\nworld\n'))).message
    expect(message).toMatch(/not valid JSON \(Unexpected token 'h', "hello\\nworld\\n" is not valid JSON\)$/)
    expect(message).not.toContain('\n')
  })

  it('given bad snapshots, when read, then the error names the field: negative capacity, NaN load, unknown node, edited shard map', () => {
    const negative = structuredClone(snap) as {nodes: {capacity: {reads?: number}}[]}
    negative.nodes[0]!.capacity.reads = -3
    expect(errorOf(() => readSnapshotFile(write('n.json', negative))).message).toMatch(/nodes\[0\]\.capacity\.reads: /)
    const nan = JSON.stringify(snap).replace('"reads":10', '"reads":NaN')
    expect(errorOf(() => readSnapshotFile(write('nan.json', nan))).message).toMatch(/not valid JSON/)
    const ghost = structuredClone(snap) as {load: {node: string}[]}
    ghost.load[0]!.node = 'ghost'
    expect(errorOf(() => readSnapshotFile(write('g.json', ghost))).message).toMatch(/load\[0\]: node "ghost" holds no replica/)
    const edited = structuredClone(snap) as {shards: {epoch: number}[]}
    edited.shards[0]!.epoch = 9
    expect(errorOf(() => readSnapshotFile(write('e.json', edited))).message).toMatch(/fingerprint: does not match the shards/)
  })

  it('given flag text, when parsed, then options come out typed and bad values name the flag', () => {
    expect(planOptionsFromFlags({maxImbalance: '1.2', maxBytes: '1KiB', weights: 'writes=2', strategy: 'ring'})).toMatchObject({maxImbalance: 1.2, maxBytes: 1024, weights: {reads: 1, writes: 2, bytes: 1}, strategy: 'ring'})
    expect(errorOf(() => planOptionsFromFlags({maxBytes: '12XB'})).message).toMatch(/^--max-bytes: /)
    expect(errorOf(() => planOptionsFromFlags({weights: 'cpu=1'})).message).toMatch(/^--weights: unknown key "cpu"/)
    expect(errorOf(() => planOptionsFromFlags({maxImbalance: 'x'})).message).toMatch(/^--max-imbalance: /)
    // Out of range: the flag is named, not the planner's option field ("plan option maxImbalance: Too small").
    expect(errorOf(() => planOptionsFromFlags({maxImbalance: '0.5'})).message).toBe('--max-imbalance: max imbalance must be at least 1.01 (1 is a band of width zero no loaded cluster reaches; 1.10 keeps every node within 0.90..1.10x the mean), got "0.5"')
    // Exactly 1 (and anything under 1.01) used to be accepted, and every plan then ended unreachable (exit 11).
    for (const raw of ['1', '1.0', '1.005']) {
      const err = errorOf(() => planOptionsFromFlags({maxImbalance: raw}))
      expect(err.code).toBe('BAD_INPUT')
      expect(err.message).toMatch(new RegExp(`^--max-imbalance: max imbalance must be at least 1\\.01 .*, got "${raw.replace('.', '\\.')}"$`))
    }
    expect(planOptionsFromFlags({maxImbalance: '1.01'})).toMatchObject({maxImbalance: 1.01})
    expect(errorOf(() => planOptionsFromFlags({minImprovement: '-1'})).message).toMatch(/^--min-improvement: min improvement must be at least 0 /)
    expect(planOptionsFromFlags({minImprovement: '0'})).toMatchObject({minImprovement: 0})
  })

  it('given plans, when checked, then balanced passes, needs-rebalance and unreachable throw distinct codes', () => {
    const balanced = computePlan(snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [{replicas: ['a'], reads: 1}, {replicas: ['b'], reads: 1}]}), {}, {now, cwd: dir, write: false}).plan
    expect(() => assertWithinTarget(balanced)).not.toThrow()
    const needs = computePlan(snap, {}, {now, cwd: dir, write: false}).plan
    expect(errorOf(() => assertWithinTarget(needs)).code).toBe('NEEDS_REBALANCE')
    const hot = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [{replicas: ['a'], reads: 100}, {replicas: ['b'], reads: 1}]})
    const unreachable = computePlan(hot, {}, {now, cwd: dir, write: false}).plan
    expect(errorOf(() => assertWithinTarget(unreachable)).code).toBe('UNREACHABLE_TARGET')
    expect(errorOf(() => assertWithinTarget(unreachable)).message).toMatch(/cannot reach its balance target/)
  })

  it('given plans that stop short of the target (--max-moves, the ring strategy), when checked, then they exit 11 saying so and how to reach it, not 10', () => {
    const limited = computePlan(snap, {maxMoves: 1}, {now, cwd: dir, write: false}).plan
    const err = errorOf(() => assertWithinTarget(limited))
    expect(err.code).toBe('UNREACHABLE_TARGET')
    expect(err.message).toMatch(/^cluster "test" is outside its balance target and this plan stops short of it: 2\.00x the mean before, 1\.50x after \(target 1\.1x\); stopped at the limit of 1 move/)
    expect((err as UserError).hint).toBe('apply this plan and plan again, or raise --max-moves')
    const ring = computePlan(snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [{replicas: ['a'], reads: 100}, {replicas: ['b'], reads: 1}]}), {strategy: 'ring'}, {now, cwd: dir, write: false}).plan
    expect(ring.summary.status).toBe('unreachable')
    expect((errorOf(() => assertWithinTarget(ring)) as UserError).hint).toBe('the ring strategy ignores load: plan with --strategy balance')
  })

  it('given --max-moves 0 or a --max-bytes no move fits in, when checked, then exit 11 with a hint to raise the limit, not to apply a plan that has nothing to apply', () => {
    const none = computePlan(snap, {maxMoves: 0}, {now, cwd: dir, write: false}).plan
    expect(none.actions).toHaveLength(0)
    const err = errorOf(() => assertWithinTarget(none))
    expect(err.code).toBe('UNREACHABLE_TARGET')
    expect((err as UserError).hint).toBe('raise --max-moves: at 0 this plan has no move to apply')
    const tiny = computePlan(snap, {maxBytes: 10}, {now, cwd: dir, write: false}).plan
    expect(tiny.actions).toHaveLength(0)
    expect(tiny.summary.stopReason).toBe('max-bytes')
    expect((errorOf(() => assertWithinTarget(tiny)) as UserError).hint).toBe('raise --max-bytes: no move fits within 10 B')
  })

  it('given a plan with --allow-split and --max-moves 0, when checked, then the hint is to raise the limit: its splits applied, the same limit moves nothing again (it said "apply this plan and plan again")', () => {
    const oneHot = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: [{replicas: ['a'], reads: 100, bytes: 1000}, {replicas: ['b'], reads: 1, bytes: 1000}]})
    const splitsOnly = computePlan(oneHot, {allowSplit: true, maxMoves: 0}, {now, cwd: dir, write: false}).plan
    expect(splitsOnly.summary.splits).toBeGreaterThan(0)
    expect(splitsOnly.summary.moves).toBe(0)
    const err = errorOf(() => assertWithinTarget(splitsOnly))
    expect(err.code).toBe('UNREACHABLE_TARGET')
    expect((err as UserError).hint).toBe('raise --max-moves: at 0 this plan has no move to apply')
  })

  it('given a hot shard without --allow-split and a move limit, when checked, then the hint is --allow-split, not the limit (no number of moves reaches the band)', () => {
    // Shard 0 alone is 1.24x the mean: only a split gets node a within 1.1x.
    const one = (node: string, reads: number) => ({replicas: [node], reads, bytes: 1000})
    const hot = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}], shards: [one('a', 100), one('a', 20), one('a', 20), one('b', 10), one('c', 10)]})
    for (const limit of [{maxMoves: 1}, {maxMoves: 0}, {maxBytes: 1000}]) {
      const limited = computePlan(hot, limit, {now, cwd: dir, write: false}).plan
      expect(limited.summary.stopReason, JSON.stringify(limit)).toMatch(/^max-(moves|bytes)$/)
      const err = errorOf(() => assertWithinTarget(limited))
      expect(err.code).toBe('UNREACHABLE_TARGET')
      expect((err as UserError).hint, JSON.stringify(limit)).toBe('rerun with --allow-split: shard 0 alone is hotter than any node may be within 1.1x the mean, so more moves cannot reach the target')
    }
    // With the split allowed the same limit is the plan's only obstacle again.
    const split = computePlan(hot, {allowSplit: true, maxMoves: 1}, {now, cwd: dir, write: false}).plan
    expect((errorOf(() => assertWithinTarget(split)) as UserError).hint).toBe('apply this plan and plan again, or raise --max-moves')
    // A shard one key drives: no split divides it, so the advice is the application's.
    const keyed = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}], shards: [one('a', 100), one('a', 20), one('a', 20), one('b', 10), one('c', 10)]})
    const {lo} = keyed.shards[0]!.range
    keyed.load[0]!.keySample = [...Array.from({length: 8}, (_, i) => lo + i), ...Array(24).fill(lo + 5000)].sort((a, b) => a - b)
    const keyPlan = computePlan(keyed, {maxMoves: 1}, {now, cwd: dir, write: false}).plan
    expect((errorOf(() => assertWithinTarget(keyPlan)) as UserError).hint).toBe(`spread the load of shard 0's hot key (hash ${lo + 5000}) in the application: shard 0 alone is hotter than any node may be within 1.1x the mean, so more moves cannot reach the target, and no split can divide a key`)
  })

  it('given --max-imbalance 1 and a node 0.2% above the mean, when checked, then every figure shows enough digits to see it is outside (it printed "1.00x -> 1.00x", "outside 1.00..1.00x (worst: c at 1.00x)")', () => {
    const near = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}], shards: [{replicas: ['a'], reads: 1000}, {replicas: ['b'], reads: 1000}, {replicas: ['c'], reads: 1003}]})
    const plan = computePlan(near, {maxImbalance: 1}, {now, cwd: dir, write: false}).plan
    expect(plan.summary.stopDetail).toMatch(/shard 2 alone carries 1\.002x an average node's load .* 3 node\(s\) stay outside 1\.00\.\.1\.00x the mean \(worst: c at 1\.002x\)$/)
    const err = errorOf(() => assertWithinTarget(plan))
    expect(err.code).toBe('UNREACHABLE_TARGET')
    expect(err.message).toMatch(/^cluster "test" cannot reach its balance target: /)
    // Small shards (no hot one): the headline figures are the ones to read.
    const small = (node: string, n: number, reads: number) => Array.from({length: n}, () => ({replicas: [node], reads}))
    const spread = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c'}], shards: [...small('a', 10, 100), {replicas: ['a'], reads: 6}, ...small('b', 10, 100), ...small('c', 10, 100)]})
    const stuck = computePlan(spread, {maxImbalance: 1}, {now, cwd: dir, write: false}).plan
    expect(imbalanceLine(stuck)).toMatch(/^imbalance 1\.004x -> 1\.004x the mean \(target 1x\)/)
    expect(renderPlanText(stuck)).toMatch(/\n {2}a +z0 +active +\S+ +1\.004x +\S+ +1\.004x\n/)
    expect(errorOf(() => assertWithinTarget(stuck)).message).toMatch(/3 node\(s\) stay outside 1\.00\.\.1\.00x the mean \(worst: a at 1\.004x\)/)
  })

  it('given a cluster whose busiest node is within the target, when checked, then the message names what is outside instead of "1.00x the mean (target 5x)"', () => {
    // A draining node: the drain moves are required whatever the band.
    const draining = snapshotOf({nodes: [{id: 'a', state: 'draining'}, {id: 'b'}, {id: 'c'}], shards: [{replicas: ['a'], reads: 10}, {replicas: ['b'], reads: 10}, {replicas: ['c'], reads: 10}]})
    const drain = errorOf(() => assertWithinTarget(computePlan(draining, {maxImbalance: 5}, {now, cwd: dir, write: false}).plan))
    expect(drain.code).toBe('NEEDS_REBALANCE')
    expect(drain.message).toBe('cluster "test" is outside its balance target: 1 move(s) required by drains or placement rules (first: shard 0: node a is draining); the plan has 1 move(s) and 0 split(s)')
    // An empty new node under the band, the nine others at 1.11x, inside a 1.2x target.
    const nodes = Array.from({length: 10}, (_, i) => ({id: `n${i}`}))
    const fresh = snapshotOf({nodes, shards: Array.from({length: 90}, (_, i) => ({replicas: [`n${i % 9}`], reads: 10}))})
    const low = errorOf(() => assertWithinTarget(computePlan(fresh, {maxImbalance: 1.2}, {now, cwd: dir, write: false}).plan))
    expect(low.code).toBe('NEEDS_REBALANCE')
    expect(low.message).toMatch(/^cluster "test" is outside its balance target: node n9 is at 0\.00x the mean, under the band 0\.80\.\.1\.2x; the plan has [1-9]\d* move\(s\)/)
  })
})
