import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {exportSnapshot} from '../../src/plans/snapshotExport.js'

export default class SnapshotExportCommand extends EtcdCommand {
  static override summary = 'Export the cluster (nodes, shards, load, constraints) as one snapshot file for offline planning.'
  static override description = `The snapshot is what \`plan --snapshot\` and \`plan verify --snapshot\` read, with no etcd access: one revision of the shard map, each node's liveness, the load the nodes published and the placement constraints. Without --out it goes to plans/<cluster>-snapshot-<timestamp>.json, or to standard output when that is not a terminal (a pipe, or a redirect to a file), so \`snapshot export | plan --snapshot -\` plans the live cluster offline. \`snapshot schema\` prints its JSON Schema.`
  static override examples = [
    '<%= config.bin %> snapshot export',
    '<%= config.bin %> snapshot export --out snap.json && <%= config.bin %> plan --snapshot snap.json --check',
    '<%= config.bin %> snapshot export | <%= config.bin %> plan --snapshot - --format markdown',
  ]
  static override enableJsonFlag = false
  static override flags = {
    out: Flags.string({description: 'write the snapshot here (- for standard output) instead of plans/<cluster>-snapshot-<timestamp>.json'}),
  }

  async run(): Promise<void> {
    const {flags} = await this.parse(SnapshotExportCommand)
    const result = await exportSnapshot(await this.services(flags), {out: flags.out, stdoutIsTerminal: process.stdout.isTTY === true, now: new Date(), cwd: process.cwd()})
    if (result.file === null) this.log(JSON.stringify(result.snapshot, null, 2))
    else this.logToStderr(`snapshot of cluster "${result.snapshot.cluster.name}" at revision ${result.snapshot.revision} (${result.snapshot.nodes.length} nodes, ${result.snapshot.shards.length} shards) written to ${result.file}`)
  }
}
