import {type NodeState, type RedisTrouble, type SlotSpan} from './redisTrouble.js'

/**
 * redisTroubleLines (pure) renders the trouble section of `cluster status` for a Redis
 * Cluster: a heading and one line per item, each ending with its way out. Empty when there is
 * no trouble (a slot the running executor is migrating is its own work, a failed master
 * etcd no longer records and that serves no slot is settled), so a healthy cluster's status
 * stays as short as before. Settled masters are listed when other trouble is.
 */
export function redisTroubleLines(t: RedisTrouble): string[] {
  if (!t.trouble) return []
  const lines = [`Redis cluster trouble (${t.seed ? `ways out name ${t.seed}, a live master` : 'no master answered'}):`]
  const item = (fact: string, wayOut: string): void => void lines.push(`  ${fact}. Way out: ${wayOut}`)
  if (t.mastersAnswering === 0) item('no master of the Redis cluster answered CLUSTER NODES', 'check the masters `shardctl node list` shows down; once one answers, re-record with `shardctl cluster init --engine redis --seed <live node> --force`')
  for (const o of t.openSlots.filter((x) => !x.inFlight)) {
    const failed = [side('source', o.source, o.sourceState), side('target', o.target, o.targetState)].filter((x) => x !== '')
    item(`${span(o.slots)} left open ${o.source ?? '?'} -> ${o.target ?? '?'}${failed.length > 0 ? ` (${failed.join(', ')})` : ''}`, o.wayOut)
  }
  for (const f of t.failedMasters) {
    const seen = f.state === 'fail' || f.state === 'fail?' ? `, flagged by ${f.seenFailedBy} of ${f.masters} masters` : ''
    const taken = f.takenBy.length > 0 ? `, its recorded slots now on ${f.takenBy.join(', ')}` : ''
    item(`master ${f.node} at ${f.address} is ${describeState(f.state)}${seen}, ${f.slots} slots still its own${taken}`, f.wayOut)
  }
  for (const u of t.unservedSlots) item(`${span(u.slots)} served by no live master${u.lastOwner ? ` (still given to ${u.lastOwner})` : ''}`, u.wayOut)
  for (const c of t.contestedSlots) item(`${span(c.slots)} served by ${c.owners.join(' and ')} at once`, c.wayOut)
  for (const r of t.recordMismatches.filter((x) => !x.inFlight)) {
    const by = r.servedBy.length > 0 ? `served by ${r.servedBy.join(', ')}` : 'served by no live master'
    item(`etcd records ${r.shards.length} shard(s) (${r.slots} slots, first shard ${r.shards[0]}) on ${r.recordedOn}, but those slots are ${by}`, r.wayOut)
  }
  for (const w of t.dataLossWarnings) item(`${w.text} (warned ${w.at}; move now ${w.phase})`, w.wayOut)
  for (const w of t.checkWarnings) item(`not a loss, waiting for a check: ${w.text} (warned ${w.at}; move now ${w.phase})`, w.wayOut)
  for (const u of t.unreplicatedMasters) item(`master ${u.node} at ${u.address} serves ${u.slots} slots with no live replica${u.failedReplicas.length > 0 ? ` (${u.failedReplicas.join(', ')} failed)` : ''}`, u.wayOut)
  return lines
}

function span(s: SlotSpan): string {
  return s.from === s.to ? `slot ${s.from}` : `slots ${s.from}-${s.to} (${s.to - s.from + 1})`
}

function side(name: string, node: string | null, state: NodeState): string {
  return state === 'live' ? '' : `${name} ${node ?? '?'} ${describeState(state)}`
}

function describeState(state: NodeState): string {
  switch (state) {
    case 'live':
      return 'live'
    case 'replica':
      return 'failed over (a replica now)'
    case 'fail':
      return 'failed (fail)'
    case 'fail?':
      return 'suspected failed (fail?)'
    case 'unreachable':
      return 'not answering'
    case 'unknown':
      return 'gone from the cluster'
  }
}
