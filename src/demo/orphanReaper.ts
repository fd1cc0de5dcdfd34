/**
 * orphanReaper is a tiny guard process the demo starts first. The demo writes the pid of
 * every child it spawns to the guard's stdin, one per line, and `done` when it has stopped
 * them itself. If the demo dies any other way (SIGKILL included) its end of the pipe
 * closes and the guard SIGKILLs every pid it was given, so no etcd, node or router
 * outlives the demo. Run as `node orphanReaper.js`; it holds no other state.
 */
const pids = new Set<number>()
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
    else if (line.startsWith('-')) pids.delete(Number(line.slice(1)))
    else if (/^\d+$/.test(line)) pids.add(Number(line))
  }
})
process.stdin.on('end', () => {
  if (!clean) {
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {
        // already gone
      }
    }
  }
  process.exit(0)
})
// The guard ignores the terminal's Ctrl-C (sent to the whole process group): the demo
// handles it and then closes the pipe; the guard must outlive that cleanup.
process.on('SIGINT', () => {})
process.on('SIGHUP', () => {})
