import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {writeFloorLine} from '../../src/cli/clusterStatusText.js'
import {type ClusterWriteFloor, readClusterWriteFloor} from '../../src/cluster/writeFloorRead.js'

export default class ClusterWriteFloorShow extends EtcdCommand {
  static override summary = "Show the cluster's write floor: the smallest write quorum any of its routers ever ran with, and what it lets a move with a down source do."
  static override description = 'The line `cluster status` prints about the write floor, alone (see docs/moves.md "The write floor"). A cluster created before the floor has none; `cluster write-floor adopt` creates it.'
  static override examples = ['<%= config.bin %> cluster write-floor', '<%= config.bin %> cluster write-floor --json']

  async run(): Promise<ClusterWriteFloor> {
    const {flags} = await this.parse(ClusterWriteFloorShow)
    const r = await readClusterWriteFloor(await this.services(flags))
    this.log(`cluster ${r.cluster}: ${writeFloorLine(r.floor, r.rf, r.unreadable ? {key: r.key} : undefined)}`)
    return r
  }
}
