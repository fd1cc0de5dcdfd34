/**
 * Known etcd server bugs that break an assumption shardctl's safety rests on, and which
 * etcd releases fixed them. Pure: no I/O (etcdVersionCheck.ts asks the server).
 */

/** EtcdBug is one such bug. */
export interface EtcdBug {
  /** ref names the bug (issue or fix) for the operator to read up on. */
  ref: string
  /** what the bug does, in a few words. */
  what: string
  /** risk says which of shardctl's guarantees it undermines. */
  risk: string
  /**
   * fixedIn holds the first fixed release of each release line that got the fix, oldest
   * line first. A line before the first listed one is affected; a line after the last
   * listed one was branched after the fix and is not; a line in between that is not listed
   * never got the fix and is affected.
   */
  fixedIn: readonly string[]
}

/**
 * ETCD_BUGS: checked against the etcd a process talks to (nodes, routers and `cluster
 * status` report a match). Debian 12's etcd-server (3.4.23) has both.
 */
export const ETCD_BUGS: readonly EtcdBug[] = [
  {
    ref: 'etcd-io/etcd#15247 (fixed by #17465 in 3.4, #17425 in 3.5)',
    what: 'a leader stalled past an election (slow disk, CPU) can still revoke leases once it resumes',
    risk: "a member's lease and registration can vanish while it still counts the lease as held, so a move's barrier may skip a node that still acknowledges writes at the old epoch",
    fixedIn: ['3.4.31', '3.5.13'],
  },
  {
    ref: 'etcd watch event loss after compaction (fixed by #17610 in 3.4, #17612 in 3.5)',
    what: 'a watch resuming from a revision near a compaction can skip events without being cancelled',
    risk: 'a node or router can miss a shard map change and keep the older map until its next full re-read',
    fixedIn: ['3.4.31', '3.5.13'],
  },
]

/** EtcdVersion is a parsed `major.minor.patch` server version. */
export interface EtcdVersion {
  major: number
  minor: number
  patch: number
}

/** parseEtcdVersion reads "3.4.23" (a `v` prefix and a pre-release or build suffix allowed); undefined for anything else. */
export function parseEtcdVersion(text: string): EtcdVersion | undefined {
  const m = /^v?(\d+)\.(\d+)\.(\d+)(?:[-+].*)?$/.exec(text.trim())
  if (!m) return undefined
  return {major: Number(m[1]), minor: Number(m[2]), patch: Number(m[3])}
}

/** affects is true when `bug` is present in `v` (see {@link EtcdBug.fixedIn}). */
export function affects(bug: EtcdBug, v: EtcdVersion): boolean {
  const lines = bug.fixedIn.map((f) => parseEtcdVersion(f)!)
  const line = (x: EtcdVersion) => x.major * 1_000_000 + x.minor
  const same = lines.find((f) => line(f) === line(v))
  if (same) return v.patch < same.patch
  return line(v) < line(lines.at(-1)!)
}

/** etcdBugsIn returns the known bugs of etcd `version`; undefined when the version cannot be read (then nothing is known). */
export function etcdBugsIn(version: string): EtcdBug[] | undefined {
  const v = parseEtcdVersion(version)
  return v ? ETCD_BUGS.filter((b) => affects(b, v)) : undefined
}

/** upgradeAdvice names the releases that fix every bug in `bugs`, per release line: "3.4.31+ or 3.5.13+". */
export function upgradeAdvice(bugs: readonly EtcdBug[]): string {
  const newest = new Map<string, EtcdVersion>()
  for (const b of bugs) {
    for (const f of b.fixedIn) {
      const v = parseEtcdVersion(f)!
      const key = `${v.major}.${v.minor}`
      const had = newest.get(key)
      if (!had || had.patch < v.patch) newest.set(key, v)
    }
  }
  return [...newest.values()].map((v) => `${v.major}.${v.minor}.${v.patch}+`).join(' or ')
}

/** etcdVersionWarning is the one-line warning for etcd `version` with `bugs` (non-empty). */
export function etcdVersionWarning(version: string, bugs: readonly EtcdBug[]): string {
  return `etcd ${version} has ${bugs.length} known bug${bugs.length === 1 ? '' : 's'} that weaken shardctl's guarantees (${bugs.map((b) => b.what).join('; ')}); upgrade etcd to ${upgradeAdvice(bugs)}`
}
