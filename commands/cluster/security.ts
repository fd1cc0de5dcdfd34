import {Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {askYesNo, currentTerminals, needsQuestion} from '../../src/cli/confirmation.js'
import {UserError} from '../../src/errors/errors.js'
import {type ClusterSecurity, setClusterSecurity, SWITCH_LOCKOUT} from '../../src/security/clusterSecurity.js'

export default class ClusterSecurityCommand extends EtcdCommand {
  static override summary = "Show or change the cluster's security switches: TLS-only, and authentication on routers."
  static override description = 'With --tls-only, nodes, routers, the executor and repair refuse to start without --tls-cert/--tls-key/--tls-ca (restart running ones with certificates first). With --auth, routers answer 401 to /kv and /metrics requests without a user token or client certificate, and 403 outside the user\'s roles, within about a second. Turning a switch on can lock out every process and client that lacks the new material, so it asks for confirmation first (--yes skips it; with no terminal to ask on and no --yes it refuses with exit 2); turning one off, or one already on, does not ask. Without flags: show them.'
  static override examples = ['<%= config.bin %> cluster security', '<%= config.bin %> cluster security --tls-only --auth', '<%= config.bin %> cluster security --tls-only --auth --yes', '<%= config.bin %> cluster security --no-auth']
  static override flags = {
    'tls-only': Flags.boolean({description: 'require TLS on every data-plane hop', allowNo: true}),
    auth: Flags.boolean({description: 'require router users (tokens or client certificates)', allowNo: true}),
    yes: Flags.boolean({char: 'y', description: 'do not ask for confirmation before turning a switch on (CI)'}),
  }

  async run(): Promise<ClusterSecurity & {changed: boolean}> {
    const {flags} = await this.parse(ClusterSecurityCommand)
    const ctx = await this.services(flags)
    const {security, changed} = await setClusterSecurity(ctx, {tlsOnly: flags['tls-only'], authRequired: flags.auth}, async (switches) => {
      if (!needsQuestion(flags.yes, currentTerminals(), `turn on ${switches.join(' and ')}`)) return
      for (const s of switches) process.stderr.write(`${SWITCH_LOCKOUT[s]}\n`)
      if (!(await askYesNo(`Turn on ${switches.join(' and ')} for cluster "${ctx.cluster}"?`))) throw new UserError('DECLINED', 'declined: the security settings were left as they were', 'run it again and answer y, or pass --yes')
    })
    // Without flags this only shows the switches: "already:" would read as if something had been asked.
    const shown = flags['tls-only'] === undefined && flags.auth === undefined
    this.log(`${shown ? `cluster ${ctx.cluster}` : changed ? 'now' : 'already'}: tls-only ${security.tlsOnly ? 'on' : 'off'}, authentication ${security.authRequired ? 'on' : 'off'}`)
    return {...security, changed}
  }
}
