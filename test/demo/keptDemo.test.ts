import {mkdirSync, rmSync, writeFileSync} from 'node:fs'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {findKeptDemos, type KeptDemo, readKeptDemo, type StopEffects, stopKeptDemo, writeKeptDemo} from '../../src/demo/keptDemo.js'
import {workDirs} from '../support/demoRuns.js'

const workDir = workDirs('shardctl-kept-')

function keptIn(dir: string): KeptDemo {
  return {
    version: 1, dir, cluster: 'demo', endpoint: 'http://127.0.0.1:2400', router: '127.0.0.1:7100', nodes: [{id: 'n1', address: '127.0.0.1:7101'}],
    processes: [{name: 'etcd', pid: 100}, {name: 'node-n1', pid: 101}, {name: 'router', pid: 102}, {name: 'node-n2', pid: 103}],
    secure: null, keptAt: '2026-11-30T00:00:00Z',
  }
}

/**
 * fakeProcesses is a process table under test control: `alive` pids run and are the demo's
 * until killed; `stubborn` ones ignore SIGTERM; `recycled` pids belong to someone else.
 */
function fakeProcesses(alive: number[], opts: {stubborn?: number[]; recycled?: number[]} = {}) {
  const running = new Set(alive)
  const signals: string[] = []
  let clock = 0
  const effects: StopEffects = {
    probe: (pid) => (opts.recycled?.includes(pid) ? 'other' : running.has(pid) ? 'ours' : 'gone'),
    kill: (pid, signal) => {
      signals.push(`${signal} ${pid}`)
      if (signal === 'SIGKILL' || !opts.stubborn?.includes(pid)) running.delete(pid)
    },
    sleep: async (ms) => void (clock += ms),
    now: () => clock,
    removeDir: (d) => rmSync(d, {recursive: true, force: true}),
  }
  return {effects, signals, running}
}

describe('stopKeptDemo', () => {
  it('Given a kept demo whose processes run, When stopped, Then routers and nodes get SIGTERM before etcd, a stubborn one gets SIGKILL after the grace, and the dir is removed', async () => {
    const dir = workDir()
    writeKeptDemo(keptIn(dir))
    const fake = fakeProcesses([100, 101, 102, 103], {stubborn: [102]})
    const r = await stopKeptDemo(dir, fake.effects, 1000)
    expect(fake.signals).toEqual(['SIGTERM 101', 'SIGTERM 102', 'SIGTERM 103', 'SIGKILL 102', 'SIGTERM 100'])
    expect(r).toEqual({dir, stopped: ['node-n1', 'router', 'node-n2', 'etcd'], alreadyGone: [], removed: true})
    expect(fake.running.size).toBe(0)
    expect(findKeptDemos('/', '.shardctl', dir)).toEqual([dir])
    expect(() => readKeptDemo(dir)).toThrow(/no kept demo/)
  })

  it('Given a pid that now belongs to another process and one already gone, When stopped, Then neither is signalled and both are reported as gone', async () => {
    const dir = workDir()
    writeKeptDemo(keptIn(dir))
    const fake = fakeProcesses([100, 101, 103], {recycled: [101]})
    const r = await stopKeptDemo(dir, fake.effects, 1000)
    expect(fake.signals).toEqual(['SIGTERM 103', 'SIGTERM 100'])
    expect(fake.running.has(101)).toBe(true)
    expect(r.alreadyGone).toEqual(['node-n1', 'router'])
    expect(r.stopped).toEqual(['node-n2', 'etcd'])
  })
})

describe('readKeptDemo and findKeptDemos', () => {
  it('Given no kept.json, or one shardctl did not write, When read, Then NOT_FOUND or CORRUPT_VALUE name the file and nothing is touched', () => {
    const dir = workDir()
    expect(() => readKeptDemo(dir)).toThrow(expect.objectContaining({code: 'NOT_FOUND'}))
    writeFileSync(join(dir, 'kept.json'), '{"version": 1, "dir": 3}')
    expect(() => readKeptDemo(dir)).toThrow(expect.objectContaining({code: 'CORRUPT_VALUE', message: expect.stringContaining('kept.json')}))
  })

  it('Given a work dir with one kept demo and one plain demo dir, When searched, Then only the kept one is found', () => {
    const cwd = workDir()
    const kept = join(cwd, '.shardctl', 'demo', '11')
    const plain = join(cwd, '.shardctl', 'demo', '12')
    expect(findKeptDemos(cwd, '.shardctl')).toEqual([])
    for (const d of [kept, plain]) mkdirSync(d, {recursive: true})
    writeKeptDemo(keptIn(kept))
    expect(findKeptDemos(cwd, '.shardctl')).toEqual([kept])
  })
})
