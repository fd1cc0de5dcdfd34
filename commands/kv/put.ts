import {readFileSync} from 'node:fs'
import {Args, Flags} from '@oclif/core'
import {EtcdCommand} from '../../src/cli/baseCommand.js'
import {DATA_PLANE_TLS_FLAGS, ROUTER_CREDENTIAL_FLAGS, routerAddressFlag, tlsPathsOf} from '../../src/cli/flags.js'
import {loadRouterCredentials} from '../../src/security/clientCredentials.js'
import {UserError} from '../../src/errors/errors.js'
import {type KvWriteOutput, kvPut} from '../../src/router/kvService.js'
import {readFailure} from '../../src/fs/fileFailure.js'

export default class KvPut extends EtcdCommand {
  static override summary = 'Write a key through a router (value from the argument, --file or stdin).'
  static override examples = ['<%= config.bin %> kv put user:42 \'{"name":"Ada"}\'', '<%= config.bin %> kv put blob --file ./photo.jpg', 'echo hi | <%= config.bin %> kv put greeting']
  static override args = {key: Args.string({description: 'the key', required: true}), value: Args.string({description: 'the value (UTF-8); omit to use --file or stdin'})}
  static override flags = {
    router: routerAddressFlag({description: 'router host:port (default: a live router registered in etcd)', env: 'SHARDCTL_ROUTER'}),
    file: Flags.string({description: 'read the value from this file (binary-safe); not with a VALUE argument'}),
    ...DATA_PLANE_TLS_FLAGS,
    ...ROUTER_CREDENTIAL_FLAGS,
  }

  async run(): Promise<KvWriteOutput> {
    const {args, flags} = await this.parse(KvPut)
    // oclif's `exclusive` only relates flags, so the argument/--file clash is checked here.
    if (args.value !== undefined && flags.file !== undefined) throw new UserError('BAD_INPUT', `both a VALUE argument and --file ${flags.file} were given; nothing was written`, 'pass the value one way: as the argument, with --file, or on stdin')
    const value = args.value !== undefined ? Buffer.from(args.value, 'utf8') : flags.file ? readFile(flags.file) : readStdin()
    const out = await kvPut({router: flags.router, services: () => this.services(flags), credentials: loadRouterCredentials(tlsPathsOf(flags), flags['auth-token-file'])}, args.key, value)
    this.log(`OK ${out.key} (${out.bytes} bytes) at version ${out.version}`)
    return out
  }
}

function readFile(path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new UserError('BAD_INPUT', `cannot read --file ${path}: ${readFailure(err)}; nothing was written`, 'check the path, or pass the value as an argument or on stdin')
  }
}

function readStdin(): Buffer {
  if (process.stdin.isTTY) throw new UserError('BAD_INPUT', 'no value: pass it as an argument, with --file, or on stdin')
  try {
    return readFileSync(0)
  } catch {
    throw new UserError('BAD_INPUT', 'no value: pass it as an argument, with --file, or on stdin')
  }
}
