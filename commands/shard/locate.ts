import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {type KeyLocation, locateKey} from '../../src/cluster/shardService.js'

export default class ShardLocate extends EtcdCommand {
  static override summary = 'Show which shard and replicas a key maps to.'
  static override description = 'Keys hash with MurmurHash3 x86_32 (seed 0) of their UTF-8 bytes; the shard whose [lo, hi) range holds the hash owns the key.'
  static override examples = ['<%= config.bin %> shard locate user:42', '<%= config.bin %> shard locate "order/2026/11" --json']
  static override args = {key: Args.string({description: 'the key', required: true})}

  async run(): Promise<KeyLocation> {
    const {args, flags} = await this.parse(ShardLocate)
    const loc = await locateKey(await this.services(flags), args.key)
    this.log(`key ${JSON.stringify(loc.key)} hash ${loc.hash} -> shard ${loc.shard} [${loc.range.lo}, ${loc.range.hi}) epoch ${loc.epoch}`)
    for (const r of loc.replicas) this.log(`  ${r.node.padEnd(12)} ${r.role.padEnd(9)} ${r.address ?? '(unknown node)'}`)
    return loc
  }
}
