import {readFileSync, writeFileSync} from 'node:fs'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {loadTlsMaterial, type TlsMaterial} from '../../src/transport/tlsMaterial.js'
import {TlsReloader, type TlsReloadEvent} from '../../src/transport/tlsReloader.js'
import {DataPlanePki, type PkiFiles} from '../support/dataPlanePki.js'

// Real files in a temp dir, certificates from the product's CA code; no sockets.
let ca1: DataPlanePki
let ca2: DataPlanePki
let files: PkiFiles
const reloaders: TlsReloader[] = []

beforeAll(async () => {
  ca1 = await DataPlanePki.create('ca-one')
  ca2 = await DataPlanePki.create('ca-two')
  files = await ca1.issue('n1', 'node')
})
afterAll(() => {
  for (const r of reloaders) r.stop()
  ca1.remove()
  ca2.remove()
})

function follow(pollMs = 3_600_000): {reloader: TlsReloader; applied: TlsMaterial[]; events: TlsReloadEvent[]} {
  const applied: TlsMaterial[] = []
  const events: TlsReloadEvent[] = []
  const reloader = new TlsReloader({initial: loadTlsMaterial(files, 'certificate')!, apply: (t) => applied.push(t), report: (e) => events.push(e), pollMs, signal: null})
  reloaders.push(reloader)
  return {reloader, applied, events}
}

describe('TlsReloader', () => {
  it('applies nothing while the files are unchanged', async () => {
    const {reloader, applied, events} = follow()
    expect(await reloader.reload()).toBe('unchanged')
    expect(applied).toEqual([])
    expect(events).toEqual([])
  })

  it('skips a half-written rotation (new key beside the old certificate), reports it once, and applies the pair once it is whole', async () => {
    const {reloader, applied, events} = follow()
    const next = await ca2.issue('n1-next', 'node')
    writeFileSync(files.key, readFileSync(next.key))
    expect(await reloader.reload()).toBe('failed')
    expect(await reloader.reload()).toBe('failed')
    expect(applied).toEqual([])
    expect(events).toHaveLength(1)
    expect(events[0]).toMatchObject({kind: 'failed', message: expect.stringContaining('the key does not belong to the certificate')})
    // The report names files, never their contents.
    expect(JSON.stringify(events)).not.toContain(readFileSync(next.key, 'utf8').split('\n')[1])

    writeFileSync(files.cert, readFileSync(next.cert))
    writeFileSync(files.ca, `${ca1.ca.certPem}${ca2.ca.certPem}`)
    expect(await reloader.reload()).toBe('reloaded')
    expect(applied).toHaveLength(1)
    expect(applied[0]?.cert?.equals(readFileSync(next.cert))).toBe(true)
    expect(events.at(-1)).toMatchObject({kind: 'reloaded', summary: {subject: 'CN=n1-next', issuer: 'CN=ca-two', trustedCas: 2}})
    expect(await reloader.reload()).toBe('unchanged')
  })

  it('notices a change on disk by itself (file events, or the poll)', async () => {
    const {reloader, applied} = follow(500)
    reloader.start()
    const next = await ca2.issue('n1-third', 'node')
    writeFileSync(files.key, readFileSync(next.key))
    writeFileSync(files.cert, readFileSync(next.cert))
    await expect.poll(() => applied.length, {timeout: 10_000, interval: 50}).toBe(1)
    expect(applied[0]?.cert?.equals(readFileSync(next.cert))).toBe(true)
    reloader.stop()
    // Stopped: a later change is not applied.
    const last = await ca2.issue('n1-fourth', 'node')
    writeFileSync(files.key, readFileSync(last.key))
    writeFileSync(files.cert, readFileSync(last.cert))
    expect(await reloader.reload()).toBe('unchanged')
    expect(applied).toHaveLength(1)
  })
})
