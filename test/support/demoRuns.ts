import {execFileSync} from 'node:child_process'
import {mkdtempSync, readFileSync, rmSync} from 'node:fs'
import {connect} from 'node:net'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll} from 'vitest'

/**
 * workDirs returns a maker of fresh temporary directories named `prefix`…, each removed when
 * the test file ends (a demo keeps its data under the directory it runs in).
 */
export function workDirs(prefix: string): () => string {
  const dirs: string[] = []
  afterAll(() => {
    for (const d of dirs) rmSync(d, {recursive: true, force: true})
  })
  return () => {
    const d = mkdtempSync(join(tmpdir(), prefix))
    dirs.push(d)
    return d
  }
}

/**
 * processesUnder lists processes belonging to a demo run in `dir`: etcd and redis-server
 * name their data dirs (under `dir`) in their arguments; nodes and the router carry
 * SHARDCTL_DEMO=<data dir> in their environment.
 */
export function processesUnder(dir: string): string[] {
  const out = execFileSync('ps', ['-eo', 'pid=,args='], {encoding: 'utf8'})
  return out.split('\n').filter((l) => {
    if (!l.trim() || l.includes(' ps -eo')) return false
    if (l.includes(dir)) return true
    try {
      return readFileSync(`/proc/${l.trim().split(' ')[0]}/environ`, 'utf8').includes(`SHARDCTL_DEMO=${dir}`)
    } catch {
      return false // gone meanwhile
    }
  })
}

/** listening is true when something accepts TCP connections on `address` (host:port). */
export function listening(address: string): Promise<boolean> {
  const [host, port] = address.split(':')
  return new Promise((resolve) => {
    const socket = connect({host, port: Number(port)})
    socket.setTimeout(2000, () => (socket.destroy(), resolve(false)))
    socket.once('connect', () => (socket.destroy(), resolve(true)))
    socket.once('error', () => resolve(false))
  })
}
