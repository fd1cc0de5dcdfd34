import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/cli/baseCommand.js'
import {type LocalEtcdStatus, stopLocalEtcd} from '../../src/localEtcd/localEtcdService.js'

export default class EtcdStop extends BaseCommand {
  static override summary = 'Stop the local development etcd.'
  static override examples = ['<%= config.bin %> etcd stop', '<%= config.bin %> etcd stop --purge']
  static override flags = {
    purge: Flags.boolean({description: 'also delete its data directory'}),
  }

  async run(): Promise<LocalEtcdStatus> {
    const {flags} = await this.parse(EtcdStop)
    const status = await stopLocalEtcd(process.cwd(), flags.purge)
    this.log(status.message)
    return status
  }
}
