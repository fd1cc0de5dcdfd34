import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {shardIdArg} from '../../src/cli/flags.js'
import {showShard} from '../../src/cluster/shardService.js'

export default class ShardShow extends EtcdCommand {
  static override summary = 'Show one shard: range, epoch, replicas with roles and addresses.'
  static override examples = ['<%= config.bin %> shard show 12 --json']
  static override args = {id: shardIdArg({description: 'shard id (0 or more; `shard list` shows them)', required: true})}

  async run(): Promise<Awaited<ReturnType<typeof showShard>>> {
    const {args, flags} = await this.parse(ShardShow)
    const shard = await showShard(await this.services(flags), args.id)
    this.log(`Shard ${shard.id}: hash range [${shard.range.lo}, ${shard.range.hi}), epoch ${shard.epoch}`)
    for (const r of shard.replicas) this.log(`  ${r.node.padEnd(12)} ${r.role.padEnd(9)} ${shard.addresses[r.node] ?? '(unknown node)'}`)
    return shard
  }
}
