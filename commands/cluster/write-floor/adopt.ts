import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../../src/cli/baseCommand.js'
import {adoptionEffect} from '../../../src/cli/clusterStatusText.js'
import {askYesNo, currentTerminals, needsQuestion} from '../../../src/cli/confirmation.js'
import {adoptClusterWriteFloor, type WriteFloorAdoptionResult} from '../../../src/cluster/writeFloorAdoption.js'
import {UserError} from '../../../src/errors/errors.js'
import {parseLowestW} from '../../../src/model/writeFloorAdoption.js'

export default class ClusterWriteFloorAdopt extends EtcdCommand {
  static override summary = 'Create the write floor of a cluster created before it existed, from your word on the smallest --w any of its routers ever ran with.'
  static override description = 'A cluster created before the write floor has no `write-floor` key, which counts as w = 1: every move whose source is down, a heal of a dead node included, waits for that source and aborts. This creates the key from --lowest-w (N: the smallest --w any router of this cluster ever ran with; majority: every router ran without --w; N,majority: both kinds ran), lowered to cover every router registered now (one that does not say its --w counts as 1), so it is never above what a registered router says. It is sound only if no router with a smaller quorum ever ran on this cluster since it was created: nothing can check that, so it says what the floor will allow and asks for confirmation (--yes skips it; with no terminal to ask on and no --yes it refuses with exit 2). Only for a cluster without a floor: when the key exists it refuses (exit 6) and changes nothing, since it never raises a floor (an unreadable key too: inspect it with etcdctl get, delete it, then adopt). Written in one transaction conditioned on the key still being absent (exit 6 if someone created it meanwhile); exit 7 if the registered routers changed the result while you were asked. Routers of this build cannot register past it without lowering it; if routers of older builds run, run it while none of them is starting. A bad or missing --lowest-w exits 2.'
  static override examples = ['<%= config.bin %> cluster write-floor adopt --lowest-w 2', '<%= config.bin %> cluster write-floor adopt --lowest-w majority --yes', '<%= config.bin %> cluster write-floor adopt --lowest-w 2,majority --yes --json']
  static override flags = {
    'lowest-w': Flags.string({description: 'the smallest write quorum any router of this cluster ever ran with: N (its --w), majority (no --w), or N,majority (both kinds ran)'}),
    yes: Flags.boolean({char: 'y', description: 'do not ask for confirmation (CI)'}),
  }

  async run(): Promise<WriteFloorAdoptionResult> {
    const {flags} = await this.parse(ClusterWriteFloorAdopt)
    const stated = parseLowestW(flags['lowest-w'])
    const ctx = await this.services(flags)
    const r = await adoptClusterWriteFloor(ctx, stated, async (p) => {
      // On stderr, before any question, so --json keeps stdout to the result alone.
      process.stderr.write(`cluster ${p.cluster} (rf ${p.rf}, ${p.routers} routers registered): ${adoptionEffect(p.floor, p.rf)}\n`)
      if (!needsQuestion(flags.yes, currentTerminals(), 'adopt a write floor')) return
      if (!(await askYesNo(`No router of cluster "${p.cluster}" ever ran with a smaller write quorum than --lowest-w ${flags['lowest-w']}: adopt this write floor?`))) throw new UserError('DECLINED', 'declined: the write floor was not created', 'run it again and answer y, or pass --yes')
    })
    const lowered = r.loweredAfter.length ? `; lowered since by routers ${r.loweredAfter.join(', ')} registering meanwhile` : ''
    this.log(`cluster ${r.cluster}: write floor adopted at revision ${r.revision} (--lowest-w ${r.floor.adopted?.lowestW ?? flags['lowest-w']}, ${r.routers} routers registered)${lowered}: ${adoptionEffect(r.floor, r.rf)}`)
    return r
  }
}
