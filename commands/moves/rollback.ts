import {Args} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {markedMoveNext} from '../../src/executor/markedMoveRunner.js'
import {requestRollback} from '../../src/executor/moveStore.js'

export default class MovesRollback extends EtcdCommand {
  static override summary = 'Flip a cut-over move back to its source, while the source still has its copy.'
  static override description = 'A cheap reverse move: the source re-joins the writes, is caught up from the destination by digest repair (only differing buckets travel), reads flip back, and the destination leaves. Possible after cutover until cleanup; keep a window with `apply --cleanup-grace 10m`. Refused (exit 1, nothing changed) before cutover (cancel instead), after cleanup, while the source is down (no alive/<id> lease: the rollback would wait for it; start it first) and while the source is marked abandoned (`moves abandon-source`). A source that dies after the request, or while the rollback runs, is waited for (the destination keeps its copy); `moves abandon-source --accept-data-loss` then withdraws the rollback and the move finishes on the destination.'
  static override examples = ['<%= config.bin %> moves rollback default-20261129-0003']
  static override args = {id: Args.string({description: 'move id', required: true})}

  async run(): Promise<{changed: boolean; message: string}> {
    const {args, flags} = await this.parse(MovesRollback)
    const ctx = await this.services(flags)
    const result = await requestRollback(ctx, args.id)
    // Who carries it out: said only when this call marked it (a repeat or a refusal says what is already so).
    if (result.changed) result.message = `${result.message}: ${await markedMoveNext(ctx, args.id, 'the rollback')}`
    this.log(result.message)
    return result
  }
}
