import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {listShardRecords} from '../../src/cluster/shardService.js'
import {type Shard} from '../../src/model/shard.js'

export default class ShardList extends EtcdCommand {
  static override summary = 'List shards with their hash ranges, epochs and replicas.'
  static override examples = ['<%= config.bin %> shard list', '<%= config.bin %> shard list --node n2 --json']
  static override flags = {
    node: Flags.string({description: 'only shards with a replica on this node'}),
  }

  async run(): Promise<{shards: Shard[]}> {
    const {flags} = await this.parse(ShardList)
    const shards = await listShardRecords(await this.services(flags), {node: flags.node})
    this.log(renderTable(['SHARD', 'RANGE', 'EPOCH', 'REPLICAS'], shards.map((s) => [s.id, `[${s.range.lo}, ${s.range.hi})`, s.epoch, s.replicas.map((r) => (r.role === 'voter' ? r.node : `${r.node}(${r.role})`)).join(' ')]), [0, 2]))
    return {shards}
  }
}
