import {BaseCommand} from '../../src/cli/baseCommand.js'
import {type LocalEtcdStatus, localEtcdStatus} from '../../src/localEtcd/localEtcdService.js'

export default class EtcdStatus extends BaseCommand {
  static override summary = 'Show whether the local development etcd runs, and where.'
  static override examples = ['<%= config.bin %> etcd status --json']

  async run(): Promise<LocalEtcdStatus> {
    await this.parse(EtcdStatus)
    const status = await localEtcdStatus(process.cwd())
    this.log(status.message)
    return status
  }
}
