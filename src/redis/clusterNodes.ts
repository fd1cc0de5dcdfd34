/**
 * The Redis Cluster topology as `CLUSTER NODES` reports it (available on every version from
 * 3.0; `CLUSTER SHARDS` came in 7.0 but says nothing `CLUSTER NODES` does not). Pure parsing,
 * no I/O.
 */

/** RedisClusterNode is one line of `CLUSTER NODES`. */
export interface RedisClusterNode {
  /** id is the 40-hex node id Redis gave the node. */
  id: string
  /** address is host:port clients use (the cluster bus port and hostname are dropped). */
  address: string
  flags: string[]
  /** masterId is the replicated master's id for a replica, null for a master. */
  masterId: string | null
  /** configEpoch is the node's config epoch as the reporting node knows it (a master with a higher one wins a slot both claim). */
  configEpoch: number
  /** linkConnected tells whether the reporting node's link to this node is up. */
  linkConnected: boolean
  /** slots this node serves, in ascending order. */
  slots: number[]
  /** migrating maps a slot this node is migrating to the target node id. */
  migrating: Map<number, string>
  /** importing maps a slot this node is importing to the source node id. */
  importing: Map<number, string>
}

/**
 * parseClusterNodes parses the text of `CLUSTER NODES`. Throws Error naming the line when a
 * line does not have the documented shape (`id addr flags master ping pong epoch link slots...`).
 */
export function parseClusterNodes(text: string): RedisClusterNode[] {
  const out: RedisClusterNode[] = []
  for (const raw of text.split('\n')) {
    const line = raw.trim()
    if (line === '') continue
    const f = line.split(' ')
    if (f.length < 8 || !/^[0-9a-f]{40}$/.test(f[0]!) || !/^\d+$/.test(f[6]!)) throw new Error(`unexpected CLUSTER NODES line: ${line.slice(0, 120)}`)
    const address = f[1]!.split('@')[0]!.split(',')[0]!
    const node: RedisClusterNode = {
      id: f[0]!,
      address,
      flags: f[2]!.split(','),
      masterId: f[3] === '-' ? null : f[3]!,
      configEpoch: Number(f[6]),
      linkConnected: f[7] === 'connected',
      slots: [],
      migrating: new Map(),
      importing: new Map(),
    }
    for (const tok of f.slice(8)) {
      const open = /^\[(\d+)-([<>])-([0-9a-f]{40})\]$/.exec(tok)
      if (open) {
        if (open[2] === '>') node.migrating.set(Number(open[1]), open[3]!)
        else node.importing.set(Number(open[1]), open[3]!)
        continue
      }
      const range = /^(\d+)(?:-(\d+))?$/.exec(tok)
      if (!range) throw new Error(`unexpected slot token "${tok}" in CLUSTER NODES line of ${node.id}`)
      const lo = Number(range[1])
      const hi = range[2] === undefined ? lo : Number(range[2])
      for (let s = lo; s <= hi; s++) node.slots.push(s)
    }
    out.push(node)
  }
  return out
}

/** isMaster tells whether a CLUSTER NODES entry is a master that is not failed. */
export function isLiveMaster(n: RedisClusterNode): boolean {
  return n.flags.includes('master') && !n.flags.includes('fail') && !n.flags.includes('noaddr')
}

/** myself returns the entry flagged `myself` (the node that answered). */
export function myself(nodes: readonly RedisClusterNode[]): RedisClusterNode | undefined {
  return nodes.find((n) => n.flags.includes('myself'))
}

/** shortNodeId is the shardctl node id of a Redis node: the first 12 hex digits of its Redis id (unique in practice, short enough for tables). */
export function shortNodeId(redisId: string): string {
  return redisId.slice(0, 12)
}

/** SlotRun is a run of contiguous slots [from, to) served by one master. */
export interface SlotRun {
  from: number
  to: number
  owner: string
}

/**
 * slotRuns cuts the slots each master serves into maximal contiguous runs, then each run
 * into pieces of at most `maxSlots` slots (near-equal sizes), sorted by slot. Throws Error
 * when two masters claim one slot or a slot has no owner: the cluster must be whole and
 * agreed before shardctl records it.
 */
export function slotRuns(masters: readonly RedisClusterNode[], maxSlots: number, slotCount: number): SlotRun[] {
  const owner = new Array<string | undefined>(slotCount)
  for (const m of masters)
    for (const s of m.slots) {
      if (owner[s] !== undefined && owner[s] !== m.id) throw new Error(`slot ${s} is claimed by both ${owner[s]} and ${m.id}`)
      owner[s] = m.id
    }
  const missing = owner.findIndex((o) => o === undefined)
  if (missing >= 0 || owner.length !== slotCount) throw new Error(`slot ${missing} has no master: the cluster does not cover all ${slotCount} slots`)
  const runs: SlotRun[] = []
  let start = 0
  for (let s = 1; s <= slotCount; s++) {
    if (s === slotCount || owner[s] !== owner[start]) {
      const len = s - start
      const pieces = Math.ceil(len / maxSlots)
      for (let p = 0; p < pieces; p++) {
        runs.push({from: start + Math.floor((p * len) / pieces), to: start + Math.floor(((p + 1) * len) / pieces), owner: owner[start]!})
      }
      start = s
    }
  }
  return runs
}
