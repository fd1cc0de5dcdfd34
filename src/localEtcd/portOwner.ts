import {readFileSync, readdirSync, readlinkSync} from 'node:fs'

/** LISTEN is the socket state /proc/net/tcp* gives a listening socket. */
const LISTEN = '0A'

/**
 * listeningInodes parses /proc/net/tcp or tcp6 `table` into the inodes of the sockets
 * listening on `port` (pure, exported for tests).
 */
export function listeningInodes(table: string, port: number): string[] {
  const hexPort = port.toString(16).toUpperCase().padStart(4, '0')
  const inodes: string[] = []
  for (const line of table.split('\n').slice(1)) {
    const f = line.trim().split(/\s+/)
    // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
    if (f.length < 10 || f[3] !== LISTEN || !f[1]!.endsWith(`:${hexPort}`)) continue
    inodes.push(f[9]!)
  }
  return inodes
}

/**
 * portHeldBy tells whether process `pid` holds a socket listening on TCP `port`: true or
 * false on Linux (from /proc), undefined where /proc cannot tell (another OS, no access).
 * A local etcd or redis-server child started on a port chosen free (and released) may lose
 * it to another process; whatever then answers there is not the child, and this says so.
 */
export function portHeldBy(pid: number, port: number): boolean | undefined {
  let readable = false
  try {
    const inodes = ['/proc/net/tcp', '/proc/net/tcp6'].flatMap((f) => {
      try {
        const table = readFileSync(f, 'utf8')
        readable = true
        return listeningInodes(table, port)
      } catch {
        return []
      }
    })
    if (!readable) return undefined
    if (inodes.length === 0) return false
    const sockets = new Set(inodes.map((i) => `socket:[${i}]`))
    let fds: string[]
    try {
      fds = readdirSync(`/proc/${pid}/fd`)
    } catch (err) {
      // Gone (it exited, e.g. on the taken port): it holds nothing. Not ours to read: cannot tell.
      return (err as NodeJS.ErrnoException).code === 'ENOENT' ? false : undefined
    }
    for (const fd of fds) {
      try {
        if (sockets.has(readlinkSync(`/proc/${pid}/fd/${fd}`))) return true
      } catch {
        // closed meanwhile
      }
    }
    return false
  } catch {
    return undefined
  }
}
