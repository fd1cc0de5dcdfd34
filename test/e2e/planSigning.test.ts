import {mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, inject, it} from 'vitest'
import {hashPlan, type Plan} from '../../src/model/plan.js'
import {runCli} from '../support/runCli.js'
import {uniqueCluster} from '../support/testStore.js'

/**
 * Plan signing end to end with the real binary: `plan keygen`, `plan --sign`, and `apply
 * --require-signature` refusing (exit 2, nothing run) an unsigned plan, a plan altered
 * after signing, and a plan signed by another key, and running the signed one.
 */
let cwd: string
const cluster = uniqueCluster('signing')
const conn = () => ['--endpoints', inject('etcdEndpoint'), '--cluster', cluster]
const cli = (args: string[]) => runCli(args, {cwd, timeoutMs: 60_000})

beforeAll(async () => {
  cwd = mkdtempSync(join(tmpdir(), 'shardctl-signing-'))
  const init = await cli(['cluster', 'init', '--shards', '4', '--rf', '1', '--nodes', 'n1=127.0.0.1:1,n2=127.0.0.1:2', ...conn()])
  expect(init.code, init.stderr).toBe(0)
}, 60_000)
afterAll(() => rmSync(cwd, {recursive: true, force: true}))

describe('signed plans', () => {
  it('keygen writes a 0600 private key and a public key, printing only their id and paths', async () => {
    const r = await cli(['plan', 'keygen', '--out', 'ci', '--json'])
    expect(r.code, r.stderr).toBe(0)
    const out = JSON.parse(r.stdout) as {keyId: string; privateKeyFile: string}
    expect(out.keyId).toMatch(/^[0-9a-f]{16}$/)
    expect(r.stdout + r.stderr).not.toContain('PRIVATE KEY')
    expect(statSync(join(cwd, 'ci.key')).mode & 0o777).toBe(0o600)
    expect((await cli(['plan', 'keygen', '--out', 'ci'])).code).toBe(6) // never overwrites a key
    expect((await cli(['plan', 'keygen', '--out', 'other'])).code).toBe(0)
  }, 90_000)

  it('apply --require-signature runs the signed plan and refuses unsigned, altered and foreign-key plans with exit 2', async () => {
    const signed = await cli(['plan', '--max-moves', '0', '--sign', 'ci.key', '--out', 'signed.json', ...conn()])
    expect(signed.code, signed.stderr).toBe(0)
    const plan = JSON.parse(readFileSync(join(cwd, 'signed.json'), 'utf8')) as Plan
    expect(plan.signature?.alg).toBe('ed25519')
    expect((await cli(['plan', 'verify', 'signed.json', ...conn()])).code).toBe(0) // the hash still verifies
    const verifiedSigned = await cli(['plan', 'verify', 'signed.json', '--require-signature', 'ci.pub', ...conn()])
    expect(verifiedSigned.code).toBe(0)
    // It says the signature was checked (it printed the same line as without the flag).
    expect(verifiedSigned.stdout).toMatch(/hash ok; signature by key \S+ ok; /)

    const unsigned = await cli(['plan', '--max-moves', '0', '--out', 'unsigned.json', ...conn()])
    expect(unsigned.code, unsigned.stderr).toBe(0)
    const altered = {...plan, options: {...plan.options, maxMoves: 5}}
    writeFileSync(join(cwd, 'altered.json'), JSON.stringify({...altered, hash: hashPlan(altered)}))
    writeFileSync(join(cwd, 'edited.json'), JSON.stringify({...plan, rf: 2}))

    const cases: [string, string, RegExp][] = [
      ['unsigned.json', 'ci.pub', /is not signed/],
      ['altered.json', 'ci.pub', /signature does not verify/],
      ['edited.json', 'ci.pub', /modified/],
      ['signed.json', 'other.pub', /signed by key [0-9a-f]{16}, not by the required key/],
      ['signed.json', 'missing.pub', /cannot read it/],
    ]
    for (const [file, key, message] of cases) {
      const r = await cli(['apply', file, '--yes', '--require-signature', key, ...conn()])
      expect(r.code, `${file} with ${key}: ${r.stderr}`).toBe(2)
      expect(r.stderr).toMatch(message)
    }
    const verifyOther = await cli(['plan', 'verify', 'signed.json', '--require-signature', 'other.pub', ...conn()])
    expect(verifyOther.code).toBe(2)
    // The private key instead of the public one: refused (it would verify), in one line that says what to pass.
    const verifyWithPrivate = await cli(['plan', 'verify', 'signed.json', '--require-signature', 'ci.key', ...conn()])
    expect(verifyWithPrivate.code).toBe(2)
    expect(verifyWithPrivate.stderr.trim()).toMatch(/^Error: public key ci\.key: is a private key; .* — pass the \.pub file `shardctl plan keygen` wrote beside it, or derive it with `openssl pkey -in KEYFILE -pubout -out KEYFILE\.pub`$/)
    expect(verifyWithPrivate.stderr).not.toContain('BEGIN')
    const resume = await cli(['apply', '--resume', '--yes', '--require-signature', 'ci.pub', ...conn()])
    expect(resume.code).toBe(2)

    const ok = await cli(['apply', 'signed.json', '--yes', '--require-signature', 'ci.pub', '--json', ...conn()])
    expect(ok.code, ok.stderr).toBe(0)
  }, 120_000)
})
