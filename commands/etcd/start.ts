import {BaseCommand} from '../../src/cli/baseCommand.js'
import {type LocalEtcdStatus, startLocalEtcd} from '../../src/localEtcd/localEtcdService.js'

export default class EtcdStart extends BaseCommand {
  static override summary = 'Start a local single-member etcd for development.'
  static override description = 'Data lives in .shardctl/etcd/ (git-ignored); ports are picked free the first time, then reused by every later start (after `etcd stop` without --purge) while they stay free, so nodes and routers already pointed at it reconnect. Later commands in this directory use it automatically. Finds etcd on PATH or in ETCD_BIN.'
  static override examples = ['<%= config.bin %> etcd start', 'ETCD_BIN=/opt/etcd/etcd <%= config.bin %> etcd start --json']

  async run(): Promise<LocalEtcdStatus> {
    await this.parse(EtcdStart)
    const status = await startLocalEtcd(process.cwd())
    this.log(status.message)
    return status
  }
}
