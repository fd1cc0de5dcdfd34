/**
 * A storage writer thread that dies must be reported (once) to the engine's owner, so a
 * node stops serving instead of answering reads while every write fails. Real engine and
 * real writer thread on a temp dir.
 */
import {mkdtempSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, describe, expect, it} from 'vitest'
import {formatHlc} from '../../src/model/hlc.js'
import {StorageEngine} from '../../src/node/storageEngine.js'

const dirs: string[] = []
const engines: StorageEngine[] = []

function open(onWriterFailed: (err: Error) => void): StorageEngine {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-writer-fail-'))
  dirs.push(dir)
  const engine = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, synchronous: 'NORMAL', clock: () => 0, onWriterFailed})
  engines.push(engine)
  return engine
}

afterEach(async () => {
  for (const e of engines.splice(0)) await e.close()
  for (const d of dirs.splice(0)) rmSync(d, {recursive: true, force: true})
})

const record = (key: string) => ({key: Buffer.from(key), version: formatHlc({wall: 1, counter: 0, writer: 'w'}), value: Buffer.from('v')})

/** killWriter terminates the engine's writer thread as a crash would (no close request). */
async function killWriter(engine: StorageEngine): Promise<void> {
  await (engine as unknown as {writer: {worker: {terminate(): Promise<void>}}}).writer.worker.terminate()
}

describe('storage writer failure', {timeout: 30_000}, () => {
  it('given a running engine, when its writer thread dies, then onWriterFailed hears it once with the cause, and writes reject', async () => {
    const failures: Error[] = []
    const engine = open((err) => failures.push(err))
    await engine.apply([record('before')])
    const queued = engine.apply([record('queued')]).then(
      () => 'resolved',
      () => 'rejected',
    )
    await killWriter(engine)
    expect(await queued).toBe('rejected')
    await expect(engine.apply([record('after')])).rejects.toThrow(/storage writer thread exited/)
    await expect(engine.setMetaValue('m', 'x')).rejects.toThrow()
    expect(failures.map((e) => e.message)).toEqual([expect.stringMatching(/storage writer thread exited/)])
    // Reads still work (the owner decides to stop serving), and close does not report again.
    expect(engine.get(Buffer.from('before'))?.value?.toString()).toBe('v')
    await engine.close()
    expect(failures).toHaveLength(1)
  })

  it('given a running engine, when it is closed, then onWriterFailed is not called', async () => {
    const failures: Error[] = []
    const engine = open((err) => failures.push(err))
    await engine.apply([record('k')])
    await engine.close()
    // The thread's exit event arrives after close() resolved; give it turns to show up.
    for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r))
    expect(failures).toEqual([])
  })
})
