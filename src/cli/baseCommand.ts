import {Command, Flags, type Interfaces} from '@oclif/core'
import {type ConnectionConfig, configFileCandidates, envInput, readConfigFile, resolveConnection} from '../config/connectionConfig.js'
import {makeServiceContext, type ServiceContext} from '../cluster/serviceContext.js'
import {EtcdStore} from '../etcd/etcdStore.js'
import {etcdTimeoutMs} from '../etcd/etcdTimeout.js'
import {PHASE_FAULT_VARIABLE, parsePhaseFault} from '../executor/phaseFault.js'
import {readLocalEtcdState} from '../localEtcd/localEtcdService.js'
import {renderError} from './renderError.js'
import {EXIT_CODES, type ErrorCode} from '../errors/codes.js'
import {existsSync} from 'node:fs'
import {writeJsonResultLine} from './jsonResultLine.js'

/** ParsedValues is oclif's FlagOutput and ArgOutput (not exported by @oclif/core): parsed flags or args by name. */
type ParsedValues = {[name: string]: unknown}

/**
 * BaseCommand gives every command `--json` (the command's return value is its JSON
 * output) and one error handler: a one-line message on stderr (or a JSON error body with
 * --json) and the exit code from the error code table. Commands stay thin: parse flags,
 * call one service, render.
 */
export abstract class BaseCommand extends Command {
  static override enableJsonFlag = true
  /** parsedArgv is init's parse of the command line, which the command's own `this.parse(Self)` returns. */
  private parsedArgv?: Promise<Interfaces.ParserOutput>

  /**
   * init parses the command line before any command runs: parsing is what refuses a flag or
   * argument the command does not have (oclif checks `strict` only in this.parse), with one
   * line and exit 2 (see catch), so a command that takes nothing (`plan schema`) refuses them too.
   */
  override async init(): Promise<void> {
    await super.init()
    this.parsedArgv = super.parse(this.ctor)
    await this.parsedArgv
  }

  /** parse of the command's own flags and args on its own argv is init's, not a second pass over it. */
  protected override async parse<F extends ParsedValues, B extends ParsedValues, A extends ParsedValues>(options?: Interfaces.Input<F, B, A>, argv?: string[]): Promise<Interfaces.ParserOutput<F, B, A>> {
    if (this.parsedArgv && argv === undefined && (options === undefined || options === this.ctor)) return this.parsedArgv as Promise<Interfaces.ParserOutput<F, B, A>>
    return super.parse(options, argv)
  }

  override async catch(err: Error & {exitCode?: number}): Promise<unknown> {
    // oclif's own exit (this.exit) passes through untouched.
    if ((err as {code?: string}).code === 'EEXIT') throw err
    const rendered = renderError(err, this.id)
    if (this.jsonEnabled()) this.logJson(rendered.json)
    else process.stderr.write(`${rendered.line}\n`)
    if (process.env.DEBUG && err instanceof Error && err.stack) process.stderr.write(`${err.stack}\n`)
    return this.exit(rendered.exitCode)
  }

  /**
   * setExitCode makes the process end with `code`'s exit code (from the one table in
   * src/errors/codes.ts) once the command has printed its result: for runs that did
   * something worth reporting but did not succeed (interrupted, incomplete).
   */
  protected setExitCode(code: ErrorCode): void {
    process.exitCode = EXIT_CODES[code]
  }
}

/**
 * ETCD_FLAGS are the connection flags every etcd-backed command takes, compatible with
 * etcdctl's environment. Precedence: flag > ETCDCTL_* env > config file (./shardctl.yaml,
 * then the config directory) > the local dev
 * etcd from `shardctl etcd start` > http://127.0.0.1:2379.
 */
export const ETCD_FLAGS = {
  endpoints: Flags.string({helpGroup: 'ETCD', description: 'etcd endpoints, comma-separated [env: ETCDCTL_ENDPOINTS]'}),
  cacert: Flags.string({helpGroup: 'ETCD', description: 'CA certificate of the etcd server (TLS) [env: ETCDCTL_CACERT]'}),
  cert: Flags.string({helpGroup: 'ETCD', description: 'client certificate for etcd (mTLS) [env: ETCDCTL_CERT]'}),
  key: Flags.string({helpGroup: 'ETCD', description: 'client private key for etcd (mTLS) [env: ETCDCTL_KEY]'}),
  user: Flags.string({helpGroup: 'ETCD', description: 'etcd user as name or name:password [env: ETCDCTL_USER]'}),
  password: Flags.string({helpGroup: 'ETCD', description: 'etcd password [env: ETCDCTL_PASSWORD]'}),
  cluster: Flags.string({helpGroup: 'ETCD', description: 'cluster name [env: SHARDCTL_CLUSTER] (default: default)'}),
  config: Flags.string({helpGroup: 'ETCD', description: 'config file (default: ./shardctl.yaml, then config.yaml in the config directory: ~/.config/shardctl, or SHARDCTL_CONFIG_DIR)'}),
}

type EtcdFlagValues = Interfaces.InferredFlags<typeof ETCD_FLAGS>

/**
 * resolveCommandConnection merges the connection flags with env, config file and the local
 * dev etcd. Throws UserError(BAD_INPUT) for unusable settings (SHARDCTL_ETCD_TIMEOUT_MS and
 * the test-only SHARDCTL_TEST_PHASE_FAULT too).
 */
export function resolveCommandConnection(flags: Partial<EtcdFlagValues>, cwd = process.cwd(), env = process.env, configDir?: string): ConnectionConfig {
  // Refused here, before the command does anything, as well as where the client is made.
  etcdTimeoutMs(env)
  parsePhaseFault(env[PHASE_FAULT_VARIABLE])
  let file: {path: string; input: ReturnType<typeof readConfigFile>} | undefined
  if (flags.config) file = {path: flags.config, input: readConfigFile(flags.config)}
  else {
    const found = configFileCandidates(cwd, env, configDir).find((p) => existsSync(p))
    if (found) file = {path: found, input: readConfigFile(found)}
  }
  return resolveConnection({
    flags: {endpoints: flags.endpoints, cacert: flags.cacert, cert: flags.cert, key: flags.key, user: flags.user, password: flags.password, cluster: flags.cluster},
    env: envInput(env),
    file,
    fallbackEndpoint: readLocalEtcdState(cwd)?.endpoint,
  })
}

/**
 * EtcdCommand is a BaseCommand that talks to etcd: it adds {@link ETCD_FLAGS} and opens the
 * store lazily through {@link EtcdCommand.services}, closing it when the command ends.
 */
export abstract class EtcdCommand extends BaseCommand {
  static override baseFlags = {...ETCD_FLAGS}
  private store?: EtcdStore

  /** services connects to etcd (once) and returns the context services take. */
  protected async services(flags: Partial<EtcdFlagValues>): Promise<ServiceContext> {
    const conn = resolveCommandConnection(flags, process.cwd(), process.env, this.config.configDir)
    this.store ??= new EtcdStore(conn)
    return makeServiceContext(this.store, conn)
  }

  override async finally(err: Error | undefined): Promise<unknown> {
    this.store?.close()
    return super.finally(err)
  }
}

/**
 * JsonLinesCommand is an EtcdCommand whose `--json` output is JSON lines: it may print events
 * (a daemon's ready line, `apply`'s and `node drain`'s progress) before its result, so the
 * result, or the error body, is one last line tagged `"type": "result"` (writeJsonResultLine)
 * rather than oclif's pretty-printed value over many lines. Every line parses on its own.
 */
export abstract class JsonLinesCommand extends EtcdCommand {
  /** logJson prints the result (or error) as one line after the events, so --json output is one JSON value per line. */
  override logJson(json: unknown): void {
    writeJsonResultLine(json)
  }
}
