import {BaseCommand} from '../../src/cli/baseCommand.js'
import {type LocalEtcdStatus, localEtcdStatus, localEtcdStatusCode} from '../../src/localEtcd/localEtcdService.js'

export default class EtcdStatus extends BaseCommand {
  static override summary = 'Show whether the local development etcd runs, and where.'
  static override description = 'Prints the status either way, and exits 0 when the etcd that `etcd start` recorded in this directory runs and answers /health, 3 (etcd unreachable) when it is not running or not healthy.'
  static override examples = ['<%= config.bin %> etcd status --json', '<%= config.bin %> etcd status > /dev/null || <%= config.bin %> etcd start']

  async run(): Promise<LocalEtcdStatus> {
    await this.parse(EtcdStatus)
    const status = await localEtcdStatus(process.cwd())
    this.log(status.message)
    const code = localEtcdStatusCode(status)
    if (code) this.setExitCode(code)
    return status
  }
}
