import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {renderTable} from '../../src/cli/table.js'
import {getMeta} from '../../src/cluster/clusterRepo.js'
import {UserError} from '../../src/errors/errors.js'
import {type FixResult, fixOpenSlots} from '../../src/redis/fixOpenSlots.js'
import {fixUnderLock} from '../../src/redis/fixUnderLock.js'

export default class RedisFix extends EtcdCommand {
  static override summary = 'Close Redis Cluster slots left open mid-migration (by shardctl or redis-cli), deciding from where their keys are.'
  static override description = 'Finds every slot a master marks MIGRATING or IMPORTING. A slot with keys on the importing side is finished (the rest of its keys move there, then every master assigns it there); a slot whose keys are all still on the migrating side is rolled back (marks cleared, owner unchanged). A side Redis failed over is replaced by the master that took its place; a slot open towards a master that is down but not replaced is refused, and so is a slot to finish with keys on both sides (each copy may hold acknowledged writes: after a failover, or a source restarted from an older snapshot) unless --replace. Prints what it would do unless --yes. With --yes it takes the executor lock for as long as it runs (refused, exit 8, naming the holder, while an executor holds it: `apply --resume` finishes its own slots; no apply can start meanwhile), and sends nothing more once that lock\'s lease is lost or nearly so.'
  static override examples = ['<%= config.bin %> redis fix', '<%= config.bin %> redis fix --yes', '<%= config.bin %> redis fix --seed 127.0.0.1:7000 --yes --json']
  static override flags = {
    seed: Flags.string({description: 'host:port of a node of the Redis Cluster (default: the seed the cluster was recorded with)'}),
    yes: Flags.boolean({description: 'close the slots (without it: a dry run that only reports)'}),
    replace: Flags.boolean({description: 'a key on both sides of a slot to finish (after a failover, a MIGRATE that timed out, or a source restarted from an older snapshot) is taken from the source (the master serving the slot), replacing the target\'s copy; without it such a slot is refused'}),
  }

  async run(): Promise<FixResult> {
    const {flags} = await this.parse(RedisFix)
    const ctx = await this.services(flags)
    const meta = await getMeta(ctx)
    if (meta.value.engine !== 'redis') throw new UserError('BAD_INPUT', `cluster "${ctx.cluster}" uses the ${meta.value.engine ?? 'kv'} engine, not redis`, 'pick the redis cluster with --cluster; for the kv engine use `shardctl repair`')
    const seed = flags.seed ?? meta.value.redisSeed
    if (!seed) throw new UserError('BAD_INPUT', `cluster "${ctx.cluster}" has no recorded redis seed`, 'pass --seed HOST:PORT')
    // A dry run only reads. --yes changes the cluster: under the executor lock, so no executor can start
    // while it runs, and through the same lease checks as the runner (fixUnderLock.ts).
    const result = flags.yes ? await fixUnderLock(ctx, seed, {replace: flags.replace}) : await fixOpenSlots(seed, true, {replace: flags.replace})
    if (result.slots.length === 0) this.log('No open slots: nothing to fix.')
    else {
      this.log(renderTable(['SLOT', 'SOURCE', 'TARGET', 'KEYS@SOURCE', 'KEYS@TARGET', result.dryRun ? 'WOULD' : 'DID', 'MOVED'], result.slots.map((s) => [s.slot, s.source, s.target, s.sourceKeys, s.targetKeys, s.action, s.keysMoved]), [0, 3, 4, 6]))
      for (const s of result.slots.filter((x) => x.keysOnBothSides.length > 0)) this.log(`slot ${s.slot}: ${s.keysOnBothSides.length} key(s) on both ${s.source} and ${s.target} (${s.keysOnBothSides.slice(0, 10).join(', ')}${s.keysOnBothSides.length > 10 ? ', …' : ''}): --yes refuses it unless --replace (${s.source}'s copies win)`)
      if (result.dryRun) this.log('Dry run: nothing changed. Run again with --yes to close these slots.')
    }
    return result
  }
}
