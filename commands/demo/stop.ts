import {Flags} from '@oclif/core'
import {BaseCommand} from '../../src/cli/baseCommand.js'
import {findKeptDemos, stopKeptDemo, type StopKeptResult} from '../../src/demo/keptDemo.js'
import {LOCAL_DIR} from '../../src/localEtcd/localEtcdService.js'

export default class DemoStop extends BaseCommand {
  static override summary = 'Stop a demo cluster left running by `shardctl demo --keep` and delete its data.'
  static override description = `Stops its routers and nodes, then its etcd (SIGTERM, SIGKILL after a grace), and removes its directory (data, logs, certificates). Without --dir: every kept demo under ./${LOCAL_DIR}/demo of the current directory. A process id that now belongs to another process is left alone. Stopping a demo that is already stopped says so.`
  static override examples = ['<%= config.bin %> demo stop', '<%= config.bin %> demo stop --dir .shardctl/demo/12345']
  static override flags = {
    dir: Flags.string({description: 'the kept demo directory `demo --keep` printed (default: every kept demo here)'}),
  }

  async run(): Promise<{stopped: StopKeptResult[]}> {
    const {flags} = await this.parse(DemoStop)
    const dirs = findKeptDemos(process.cwd(), LOCAL_DIR, flags.dir)
    if (dirs.length === 0) this.log(`no kept demo under ./${LOCAL_DIR}/demo: already stopped (or pass --dir)`)
    const stopped: StopKeptResult[] = []
    for (const dir of dirs) {
      const r = await stopKeptDemo(dir)
      stopped.push(r)
      const gone = r.alreadyGone.length > 0 ? `; already gone: ${r.alreadyGone.join(', ')}` : ''
      this.log(`stopped ${r.stopped.length > 0 ? r.stopped.join(', ') : 'nothing (every process was already gone)'}${gone}; removed ${dir}`)
    }
    return {stopped}
  }
}
