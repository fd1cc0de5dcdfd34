/**
 * Child processes (etcd servers, lock holders) started by tests. If a test file or the
 * runner dies before its afterAll, the exit hook still kills them by pid, so a crashed run
 * leaves nothing behind. Normal teardown stops them first and unregisters them.
 */
const pids = new Set<number>()
let hooked = false

/** trackPid registers a child process to kill when this process exits. */
export function trackPid(pid: number | undefined): void {
  if (pid === undefined) return
  pids.add(pid)
  if (!hooked) {
    hooked = true
    process.once('exit', killTracked)
  }
}

/** untrackPid forgets a child that was stopped cleanly. */
export function untrackPid(pid: number | undefined): void {
  if (pid !== undefined) pids.delete(pid)
}

/** killTracked SIGKILLs every tracked child still registered (synchronous: safe in an exit hook). */
export function killTracked(): void {
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL')
    } catch {
      // already gone
    }
  }
  pids.clear()
}
