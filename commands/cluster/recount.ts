import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {type CensusRecount, recountClusterCensus} from '../../src/cluster/censusService.js'

export default class ClusterRecount extends EtcdCommand {
  static override summary = 'Recount the shard census (the counts status reads) from the shard map, and say whether it was exact.'
  static override description = 'Every shard write keeps the census exact in the same transaction; this is the repair path for a cluster created before the census existed, or one whose shard records were written by hand.'
  static override examples = ['<%= config.bin %> cluster recount', '<%= config.bin %> cluster recount --json']

  async run(): Promise<CensusRecount> {
    const {flags} = await this.parse(ClusterRecount)
    const r = await recountClusterCensus(await this.services(flags))
    const verdict = r.previous === 'absent' ? 'created (there was none)' : r.previous === 'exact' ? 'was exact' : `was off (${r.previous.join('; ')}): corrected`
    this.log(`census of cluster ${r.cluster} at revision ${r.revision}: ${r.shards} shards, ${r.moving} moving; ${verdict}`)
    return r
  }
}
