import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import fc from 'fast-check'
import {afterAll, beforeAll, describe, expect, it, vi} from 'vitest'
import {capacityFromFlag} from '../../src/cluster/capacityInput.js'
import {parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {readConfigFile} from '../../src/config/connectionConfig.js'
import {EXIT_CODES} from '../../src/errors/codes.js'
import {UserError} from '../../src/errors/errors.js'
import {decodeStored} from '../../src/etcd/etcdStore.js'
import {ClusterMetaSchema} from '../../src/model/cluster.js'
import {ConstraintsSchema} from '../../src/model/constraints.js'
import {ControlSchema} from '../../src/model/control.js'
import {MoveSchema} from '../../src/model/move.js'
import {AliveSchema, NodeSchema} from '../../src/model/node.js'
import {PlanSchema, verifyPlanHash} from '../../src/model/plan.js'
import {parseCapacity, parseWeights} from '../../src/model/resources.js'
import {ShardSchema} from '../../src/model/shard.js'
import {NodeStatsSchema, NodeStatsSummarySchema, ShardLoadPageSchema} from '../../src/model/stats.js'
import {parseBytes, parseDuration, parseRate} from '../../src/model/units.js'
import {readPlanFile, readSnapshotFile} from '../../src/plans/planFiles.js'
import {computePlan} from '../../src/plans/planService.js'
import {RouterRecordSchema} from '../../src/router/routerRegistration.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'
import {mutateJson, mutateText, jsonEdits, textEdits} from './mutate.js'

/**
 * Parser fuzzing (fast-check, bounded runs, fixed seed so a failure reproduces): random and
 * mutated plan files, snapshot files, etcd values (decodeStored with every stored schema),
 * config YAML, node specs, capacities, sizes, rates, durations. Every input must either
 * parse to a valid value or be refused with the parser's one documented error: a UserError
 * with its code (exit 2 for files and flags, 5 for etcd values) or a RangeError naming the
 * input — never a TypeError, a crash, or a slow (ReDoS-like) parse.
 */
const RUNS = Number(process.env.FUZZ_RUNS ?? 150)
const SEED = Number(process.env.FUZZ_SEED ?? 4242)
const params = {numRuns: RUNS, seed: SEED}

let dir: string
let validPlanText: string
let validSnapshotText: string
let n = 0

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-fuzz-'))
  const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}, {id: 'c', state: 'draining'}], shards: Array.from({length: 6}, (_, i) => ({replicas: [i % 2 ? 'a' : 'c'], reads: 10 + i, writes: 1, bytes: 1000}))})
  validSnapshotText = JSON.stringify(snap)
  validPlanText = JSON.stringify(computePlan(snap, {}, {now: new Date('2026-01-01T00:00:00Z'), cwd: dir, write: false}).plan)
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

function file(text: string): string {
  const path = join(dir, `in-${n++}.json`)
  writeFileSync(path, text)
  return path
}

/**
 * outcome runs `fn` and classifies what it threw: 'ok', or the error's code / class name.
 * A parser that hung would hit the test's timeout; no wall-clock bound is asserted here
 * (machines are noisy), only that errors stay one short line.
 */
function outcome(fn: () => unknown, maxMessage = 2000): string {
  let result = 'ok'
  try {
    fn()
  } catch (e) {
    if (e instanceof UserError) {
      expect(e.message.length, e.message.slice(0, 200)).toBeLessThan(maxMessage)
      result = e.code
    } else result = (e as Error)?.constructor?.name ?? typeof e
  }
  return result
}

const arbJsonText = fc.oneof(fc.json(), fc.string(), fc.jsonValue().map((v) => JSON.stringify(v)))

describe('fuzz: plan files', () => {
  it('a mutated plan either still verifies or is refused BAD_INPUT (exit 2), by readPlanFile (what apply reads plans with)', () => {
    fc.assert(
      fc.property(jsonEdits(), (edits) => {
        const text = JSON.stringify(mutateJson(JSON.parse(validPlanText), edits))
        const path = file(text)
        const r = outcome(() => {
          const p = readPlanFile(path)
          expect(verifyPlanHash(p)).toBe(true)
        })
        expect(['ok', 'BAD_INPUT']).toContain(r)
        if (r === 'BAD_INPUT') expect(EXIT_CODES.BAD_INPUT).toBe(2)
      }),
      params,
    )
  })

  it('random bytes and text mutations of a plan are refused BAD_INPUT', () => {
    fc.assert(
      fc.property(fc.oneof(arbJsonText, textEdits().map((e) => mutateText(validPlanText, e))), (text) => {
        const path = file(text)
        expect(['ok', 'BAD_INPUT']).toContain(outcome(() => readPlanFile(path)))
      }),
      params,
    )
  })
})

describe('fuzz: snapshot files', () => {
  it('mutated and random snapshots are accepted whole or refused BAD_INPUT', () => {
    fc.assert(
      fc.property(fc.oneof(jsonEdits().map((e) => JSON.stringify(mutateJson(JSON.parse(validSnapshotText), e))), textEdits().map((e) => mutateText(validSnapshotText, e)), arbJsonText), (text) => {
        const path = file(text)
        expect(['ok', 'BAD_INPUT']).toContain(outcome(() => readSnapshotFile(path)))
      }),
      params,
    )
  })
})

describe('fuzz: etcd values', () => {
  const schemas = {ClusterMetaSchema, ConstraintsSchema, ControlSchema, MoveSchema, NodeSchema, AliveSchema, ShardSchema, NodeStatsSchema, NodeStatsSummarySchema, ShardLoadPageSchema, RouterRecordSchema, PlanSchema}
  it('decodeStored with every stored schema returns a value or throws CORRUPT_VALUE (exit 5) naming the key', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(schemas)), arbJsonText, (name, value) => {
        const kv = {key: `/shardctl/fuzz/${name}`, value, modRevision: 1n, createRevision: 1n, version: 1n, lease: '0'}
        let msg = ''
        const r = outcome(() => {
          try {
            decodeStored(kv, schemas[name as keyof typeof schemas])
          } catch (e) {
            msg = (e as Error).message
            throw e
          }
        })
        expect(['ok', 'CORRUPT_VALUE']).toContain(r)
        if (r !== 'ok') expect(msg).toContain(kv.key)
      }),
      params,
    )
  })

  it('mutated valid values (a real plan) decode or throw CORRUPT_VALUE', () => {
    fc.assert(
      fc.property(jsonEdits(), (edits) => {
        const value = JSON.stringify(mutateJson(JSON.parse(validPlanText), edits))
        expect(['ok', 'CORRUPT_VALUE']).toContain(outcome(() => decodeStored({key: 'k', value, modRevision: 1n, createRevision: 1n, version: 1n, lease: '0'}, PlanSchema)))
      }),
      params,
    )
  })
})

describe('fuzz: config YAML', () => {
  const valid = 'endpoints: [http://127.0.0.1:2379, http://127.0.0.1:22379]\ncluster: prod\nuser: ops\npassword: s3cret\ncacert: ca.pem\n'
  const bombs = ['a: &a [x, x, x, x, x, x, x, x]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a]\nc: &c [*b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\ne: [*d, *d, *d, *d, *d, *d, *d, *d]\n', '!!binary AAAA', '--- !<tag:yaml.org,2002:js/function> "x"', 'endpoints: *missing', '? [a]\n: b', '\t\tx: y', '%YAML 9.9\n---\nx: 1']
  it('random, mutated and hostile YAML is loaded or refused BAD_INPUT, and never echoes the password (not even in a YAML warning on stderr)', () => {
    const warnings = vi.spyOn(process, 'emitWarning')
    const tagged = file('endpoints: http://127.0.0.1:1\npassword: !secret s3cret\n')
    expect(readConfigFile(tagged).password).toBe('s3cret')
    fc.assert(
      fc.property(fc.oneof(fc.string(), textEdits().map((e) => mutateText(valid, e)), fc.constantFrom(...bombs)), (text) => {
        const path = file(text)
        let msg = ''
        const r = outcome(() => {
          try {
            readConfigFile(path)
          } catch (e) {
            msg = (e as Error).message
            throw e
          }
        })
        expect(['ok', 'BAD_INPUT']).toContain(r)
        expect(msg).not.toContain('s3cret')
      }),
      params,
    )
    expect(warnings.mock.calls.map((c) => String(c[0]))).toEqual([])
    warnings.mockRestore()
  })
})

describe('fuzz: flags (node specs, capacities, sizes, rates, durations)', () => {
  const alphabet = fc.constantFrom(...'0123456789.,=:@-_ abcdefghijkmnrstuvwxyzKMGTPiBs/%'.split(''))
  const flagText = fc.oneof(fc.string(), fc.string({unit: alphabet, maxLength: 80}), fc.string({unit: alphabet, minLength: 2000, maxLength: 5000}))
  const parsers: Record<string, (s: string) => unknown> = {parseNodeSpecs, capacityFromFlag, parseCapacity, parseWeights, parseBytes, parseRate, parseDuration}
  it('each parser returns a sane value or throws UserError BAD_INPUT / RangeError, fast, for any text', () => {
    fc.assert(
      fc.property(fc.constantFrom(...Object.keys(parsers)), flagText, (name, text) => {
        let value: unknown
        // Flag errors quote the flag's text (bounded by the command line), so no length bound here.
        const r = outcome(() => (value = parsers[name]!(text)), Infinity)
        expect(['ok', 'BAD_INPUT', 'RangeError'], `${name}(${JSON.stringify(text.slice(0, 60))})`).toContain(r)
        if (r === 'ok' && typeof value === 'number') expect(Number.isFinite(value) && value >= 0, `${name} → ${value}`).toBe(true)
        if (r === 'ok' && value && typeof value === 'object' && !Array.isArray(value)) for (const v of Object.values(value)) if (typeof v === 'number') expect(Number.isFinite(v)).toBe(true)
      }),
      {...params, numRuns: RUNS * 4},
    )
  })
})
