import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {hashPlan, type Plan, PlanSchema, sealPlan, verifyPlanHash} from '../../src/model/plan.js'
import {computePlan} from '../../src/plans/planService.js'
import {keyIdOf, readKeyFile, requirePlanSignature, signPlan, verifyPlanSignature} from '../../src/plans/signing.js'
import {writeSigningKeyPair} from '../../src/plans/signingKeys.js'
import {snapshotOf} from '../planner/snapshotBuilder.js'

let dir: string
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'shardctl-sign-'))))
afterEach(() => rmSync(dir, {recursive: true, force: true}))

const snap = snapshotOf({nodes: [{id: 'a'}, {id: 'b'}], shards: Array.from({length: 4}, () => ({replicas: ['a'], reads: 10, bytes: 100}))})
const now = new Date('2026-01-02T03:04:05.678Z')

function messageOf(fn: () => unknown): string {
  try {
    fn()
  } catch (e) {
    return (e as Error).message
  }
  throw new Error('expected a throw')
}

describe('plan signing', () => {
  it('given a key pair, when a plan is computed with signKeyFile, then it carries an Ed25519 signature the public key verifies', () => {
    const keys = writeSigningKeyPair(join(dir, 'ci'))
    const {plan} = computePlan(snap, {}, {now, cwd: dir, write: false, signKeyFile: keys.privateKeyFile})
    expect(plan.signature).toMatchObject({alg: 'ed25519', keyId: keys.keyId})
    expect(PlanSchema.parse(JSON.parse(JSON.stringify(plan)))).toEqual(plan)
    expect(verifyPlanHash(plan)).toBe(true) // the hash excludes the signature
    expect(verifyPlanSignature(plan, readKeyFile(keys.publicKeyFile, 'public'))).toBe(keys.keyId)
    expect(keyIdOf(readKeyFile(keys.privateKeyFile, 'private'))).toBe(keys.keyId)
  })

  it('refuses an unsigned plan, a plan altered after signing (hash or signature), and another key', () => {
    const keys = writeSigningKeyPair(join(dir, 'ci'))
    const other = writeSigningKeyPair(join(dir, 'other'))
    const pub = readKeyFile(keys.publicKeyFile, 'public')
    const {plan} = computePlan(snap, {}, {now, cwd: dir, write: false})
    expect(plan.signature).toBeUndefined()
    expect(messageOf(() => verifyPlanSignature(plan, pub))).toMatch(/is not signed/)
    const signed = signPlan(plan, readKeyFile(keys.privateKeyFile, 'private'))
    const edited: Plan = {...signed, rf: signed.rf + 1}
    expect(messageOf(() => verifyPlanSignature(edited, pub))).toMatch(/has been modified/)
    const resealed: Plan = {...edited, hash: hashPlan(edited)}
    expect(messageOf(() => verifyPlanSignature(resealed, pub))).toMatch(/does not verify/)
    const byOther = signPlan(plan, readKeyFile(other.privateKeyFile, 'private'))
    expect(messageOf(() => verifyPlanSignature(byOther, pub))).toMatch(new RegExp(`signed by key ${other.keyId}, not by the required key ${keys.keyId}`))
    const forged: Plan = {...byOther, signature: {...byOther.signature!, keyId: keys.keyId}}
    expect(messageOf(() => verifyPlanSignature(forged, pub))).toMatch(/does not verify/)
    // The unused low bits of the last base64 character: another spelling of the same 64 bytes.
    const value = signed.signature!.value
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'
    const respelled = `${value.slice(0, 85)}${alphabet[alphabet.indexOf(value[85]!) ^ 1]}==`
    expect(Buffer.from(respelled, 'base64')).toEqual(Buffer.from(value, 'base64'))
    expect(messageOf(() => verifyPlanSignature({...signed, signature: {...signed.signature!, value: respelled}}, pub))).toMatch(/not in canonical base64/)
  })

  it('sealing a plan drops its signature; --resume cannot be verified; bad key files are named, never printed', () => {
    const keys = writeSigningKeyPair(join(dir, 'ci'))
    const {plan} = computePlan(snap, {}, {now, cwd: dir, write: false, signKeyFile: keys.privateKeyFile})
    expect(sealPlan(plan).signature).toBeUndefined()
    expect(messageOf(() => requirePlanSignature(undefined, keys.publicKeyFile))).toMatch(/needs the plan file/)
    expect(messageOf(() => readKeyFile(join(dir, 'missing.pub'), 'public'))).toMatch(/cannot read it \(no such file\)/)
    expect(messageOf(() => readKeyFile(keys.publicKeyFile, 'private'))).toMatch(/not a PEM PKCS#8 private key/)
    // A verifier given the private key would derive the public half and pass: refused, and the key never printed.
    const asPublic = messageOf(() => requirePlanSignature(plan, keys.privateKeyFile))
    expect(asPublic).toMatch(/^public key .*ci\.key: is a private key; a verifier must be given only the public half/)
    expect(asPublic).not.toContain('BEGIN')
    expect(messageOf(() => writeSigningKeyPair(join(dir, 'ci')))).toMatch(/already exists/)
    // Two public keys in one file (a rotation): only the first would be trusted, silently; refused.
    const other = writeSigningKeyPair(join(dir, 'other'))
    const bundle = join(dir, 'bundle.pub')
    writeFileSync(bundle, readFileSync(keys.publicKeyFile, 'utf8') + readFileSync(other.publicKeyFile, 'utf8'))
    expect(messageOf(() => readKeyFile(bundle, 'public'))).toMatch(/bundle\.pub: holds 2 PEM blocks; exactly one key is read/)
    expect(messageOf(() => computePlan(snap, {}, {now, cwd: dir, write: true, signKeyFile: keys.publicKeyFile}))).not.toContain('BEGIN')
  })

  it('rejects a malformed signature object (strict schema)', () => {
    const keys = writeSigningKeyPair(join(dir, 'ci'))
    const {plan} = computePlan(snap, {}, {now, cwd: dir, write: false, signKeyFile: keys.privateKeyFile})
    const json = JSON.parse(JSON.stringify(plan))
    expect(PlanSchema.safeParse({...json, signature: {...json.signature, extra: 1}}).success).toBe(false)
    expect(PlanSchema.safeParse({...json, signature: {...json.signature, value: 'abc'}}).success).toBe(false)
    expect(PlanSchema.safeParse({...json, signature: {...json.signature, alg: 'rsa'}}).success).toBe(false)
  })
})
