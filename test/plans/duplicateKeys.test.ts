import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {firstDuplicateKey} from '../../src/plans/duplicateKeys.js'
import {readPlanFile} from '../../src/plans/planFiles.js'
import {computePlan} from '../../src/plans/planService.js'
import {readKeyFile, verifyPlanSignature} from '../../src/plans/signing.js'
import {writeSigningKeyPair} from '../../src/plans/signingKeys.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'
import {errorOf} from '../support/errorOf.js'

let dir: string
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'shardctl-dupkeys-'))))
afterEach(() => rmSync(dir, {recursive: true, force: true}))

describe('firstDuplicateKey', () => {
  it('finds a key repeated within one object, at any depth, comparing keys decoded', () => {
    expect(firstDuplicateKey('{"a":1,"b":{"c":[1,{"d":2,"e":"d"}]}}')).toBeUndefined()
    expect(firstDuplicateKey('{"a":1,"a":2}')).toEqual({path: '(top level)', key: 'a'})
    expect(firstDuplicateKey('{"x":[{"to":"n1"},{"to":"n3","from":"n2","to":"n1"}]}')).toEqual({path: 'x[1]', key: 'to'})
    expect(firstDuplicateKey('{"s":{"to":1,"\\u0074o":2}}')).toEqual({path: 's', key: 'to'})
    // The same key in sibling objects, or as a string value, is no repeat; escaped quotes do not end a string.
    expect(firstDuplicateKey('{"a":{"k":1},"b":{"k":"k\\"}","k":2}}')).toEqual({path: 'b', key: 'k'})
    expect(firstDuplicateKey('{"a":{"k":1},"b":{"k":"a"},"k":"b"}')).toBeUndefined()
    expect(firstDuplicateKey('[{"a":1},{"a":1}]')).toBeUndefined()
  })
})

describe('a signed plan file with a repeated key', () => {
  it('is refused by readPlanFile, though JSON.parse (last value wins) would give back the signed plan and its signature would verify', () => {
    const keys = writeSigningKeyPair(join(dir, 'ci'))
    const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b', state: 'draining'}], shards: Array.from({length: 2}, () => ({replicas: ['b'], reads: 10, bytes: 100}))})
    const path = join(dir, 'plan.json')
    const {plan} = computePlan(snap, {}, {now: new Date('2026-01-02T03:04:05.678Z'), cwd: dir, out: path, write: true, signKeyFile: keys.privateKeyFile})
    expect(plan.actions[0]).toMatchObject({kind: 'move', from: 'b', to: 'a'})
    // A reviewer (or a first-value parser) reads `"to": "b"`; JSON.parse keeps the signed `"to": "a"`.
    const text = readFileSync(path, 'utf8').replace('"to": "a"', '"to": "b", "to": "a"')
    writeFileSync(path, text)
    expect(verifyPlanSignature(JSON.parse(text), readKeyFile(keys.publicKeyFile, 'public'))).toBe(keys.keyId)
    const err = errorOf(() => readPlanFile(path))
    expect(err.code).toBe('BAD_INPUT')
    expect(err.message).toMatch(/: actions\[0\]: key "to" appears twice in one object/)
  })
})
