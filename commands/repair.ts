import {Flags} from '@oclif/core'
import {EtcdCommand} from '../src/cli/baseCommand.js'
import {getMeta} from '../src/cluster/clusterRepo.js'
import {renderTable} from '../src/cli/table.js'
import {DATA_PLANE_TLS_FLAGS, tlsPathsOf} from '../src/cli/flags.js'
import {useDataPlaneTls} from '../src/security/processTls.js'
import {type RepairReport, repairShards} from '../src/repair/repairService.js'

export default class Repair extends EtcdCommand {
  static override summary = 'Run anti-entropy between the replicas of shards and print what it fixed.'
  static override description =
    'Compares the bucket digests of every replica (voters and outgoing) of each shard, lists only the buckets that differ, merges them last-writer-wins and writes to each replica what it lacks (apply kind "repair"). Repeats up to --rounds times while writes race it. Unreachable replicas are reported and skipped. Digests are compared at a tombstone cutoff the replicas agree on; a converged shard with no move running then has its older tombstones purged on every replica (fence, then purge). Exits 0 when every compared shard converged, with PRECONDITION (1) otherwise.'
  static override examples = ['<%= config.bin %> repair', '<%= config.bin %> repair --shard 3 --json']
  static override flags = {
    shard: Flags.integer({description: 'repair only this shard', min: 0}),
    rounds: Flags.integer({description: 'digest/compare/repair rounds per shard at most', default: 3, min: 1, max: 20}),
    ...DATA_PLANE_TLS_FLAGS,
  }

  async run(): Promise<RepairReport> {
    const {flags} = await this.parse(Repair)
    const ctx = await this.services(flags)
    // A mistyped --cluster has no token either: say the cluster is missing, not "start a storage node".
    await getMeta(ctx)
    await useDataPlaneTls(ctx, tlsPathsOf(flags), 'repair')
    const report = await repairShards(ctx, {shard: flags.shard, rounds: flags.rounds})
    this.log(
      renderTable(
        ['SHARD', 'EPOCH', 'REPLICAS', 'BUCKETS', 'DIFFERED', 'FIXED', 'RESULT'],
        report.shards.map((s) => [
          s.shard,
          s.epoch,
          s.replicas.join(','),
          s.buckets,
          s.differingBuckets,
          Object.entries(s.fixed)
            .filter(([, n]) => n > 0)
            .map(([node, n]) => `${node}+${n}`)
            .join(' ') || '-',
          s.error ? `error: ${s.error}` : s.converged ? 'converged' : `not converged${s.unreachable.length ? ` (unreachable: ${s.unreachable.map((u) => u.node).join(',')})` : ''}`,
        ]),
        [0, 1, 3, 4],
      ),
    )
    const purged = report.shards.reduce((n, s) => n + s.purged, 0)
    this.log(`${report.recordsFixed} record(s) repaired across ${report.shards.length} shard(s); ${report.converged ? 'all converged' : 'some shards did not converge'}; ${purged} expired tombstone(s) purged`)
    // Why tombstones were kept, once per reason (e.g. nodes serving different --tombstone-grace): the operator has something to fix.
    const kept = new Map<string, number>()
    for (const s of report.shards) if (s.gc) kept.set(s.gc, (kept.get(s.gc) ?? 0) + 1)
    for (const [reason, n] of kept) this.log(`tombstones kept on ${n} shard(s): ${reason}`)
    if (!report.converged) process.exitCode = 1
    return report
  }
}
