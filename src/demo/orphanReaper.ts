/**
 * orphanReaper is a tiny guard process the demo starts first. The demo writes the pid of
 * every child it spawns to the guard's stdin, one per line, and `done` when it has stopped
 * them itself. If the demo dies any other way (SIGKILL included) its end of the pipe
 * closes and the guard SIGKILLs every pid it was given, so no etcd, node or router
 * outlives the demo, and removes the data directories it was given (`dir <path>` lines). Run as `node orphanReaper.js`; it holds no other state.
 */
import {rmSync} from 'node:fs'

const pids = new Set<number>()
const dirs = new Set<string>()
let buffered = ''
let clean = false

process.stdin.setEncoding('utf8')
process.stdin.on('data', (chunk: string) => {
  buffered += chunk
  let nl: number
  while ((nl = buffered.indexOf('\n')) >= 0) {
    const line = buffered.slice(0, nl).trim()
    buffered = buffered.slice(nl + 1)
    if (line === 'done') clean = true
    else if (line.startsWith('dir ')) dirs.add(line.slice(4))
    else if (line.startsWith('-')) pids.delete(Number(line.slice(1)))
    else if (/^\d+$/.test(line)) pids.add(Number(line))
  }
})
process.stdin.on('end', () => {
  if (clean) process.exit(0)
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  // Give the killed processes a moment to release their files, then remove the demo's data.
  setTimeout(() => {
    for (const dir of dirs) rmSync(dir, {recursive: true, force: true})
    process.exit(0)
  }, 500)
})
// The guard ignores the terminal's Ctrl-C (sent to the whole process group): the demo
// handles it and then closes the pipe; the guard must outlive that cleanup.
process.on('SIGINT', () => {})
process.on('SIGHUP', () => {})
