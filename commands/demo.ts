import {Flags} from '@oclif/core'
import {BaseCommand} from '../src/cli/baseCommand.js'
import {renderTable} from '../src/cli/table.js'
import {type DemoResult, type DemoStep, runDemo} from '../src/demo/demoService.js'

export default class Demo extends BaseCommand {
  static override summary = 'Run the shardctl story end to end on a private local etcd, then clean up.'
  static override description = 'Starts its own etcd on free ports (nothing else needed but the etcd binary), creates a sample cluster, shows its status and key placement, and stops everything — also on Ctrl-C.'
  static override examples = ['<%= config.bin %> demo', '<%= config.bin %> demo --nodes 6 --rf 3 --shards 128 --json']
  static override flags = {
    nodes: Flags.integer({description: 'storage nodes', default: 4, min: 1, max: 64}),
    rf: Flags.integer({description: 'replication factor', default: 3, min: 1, max: 7}),
    shards: Flags.integer({description: 'shards', default: 64, min: 1, max: 100_000}),
    'no-tui': Flags.boolean({description: 'plain output (automatic when stdout is not a TTY)'}),
  }

  async run(): Promise<DemoResult> {
    const {flags} = await this.parse(Demo)
    const abort = new AbortController()
    const onSignal = () => abort.abort(new Error('interrupted'))
    process.once('SIGINT', onSignal)
    process.once('SIGTERM', onSignal)
    try {
      return await runDemo({nodes: flags.nodes, rf: flags.rf, shards: flags.shards, cwd: process.cwd()}, (s) => this.render(s), abort.signal)
    } finally {
      process.off('SIGINT', onSignal)
      process.off('SIGTERM', onSignal)
    }
  }

  private render(s: DemoStep): void {
    switch (s.step) {
      case 'etcd':
        this.log(`▶ started a private etcd at ${s.endpoint}`)
        break
      case 'init':
        this.log(`▶ shardctl cluster init --cluster demo --shards ${s.result.shards} --rf ${s.result.rf} --nodes ${s.result.nodes.map((n) => `${n.id}=${n.address}@${n.zone}`).join(',')}`)
        break
      case 'status':
        this.log(`▶ shardctl cluster status --cluster demo`)
        this.log(`  ${s.status.shards} shards, rf ${s.status.meta.rf}, ${s.status.nodes.length} nodes`)
        this.log(
          renderTable(
            ['NODE', 'ADDRESS', 'ZONE', 'STATE', 'REPLICAS'],
            s.status.nodes.map((n) => [n.id, n.address, n.zone, n.state, n.replicas]),
            [4],
          )
            .split('\n')
            .map((l) => `  ${l}`)
            .join('\n'),
        )
        break
      case 'locate':
        this.log('▶ shardctl shard locate <key>')
        for (const l of s.locations) this.log(`  ${l.key.padEnd(18)} hash ${String(l.hash).padStart(10)} → shard ${l.shard} on ${l.readFrom.join(', ')}`)
        break
      case 'stopped':
        this.log('▶ stopped etcd and removed its data')
        break
    }
  }
}
