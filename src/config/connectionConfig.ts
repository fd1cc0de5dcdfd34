import {existsSync, readFileSync} from 'node:fs'
import {createRequire} from 'node:module'
import {homedir} from 'node:os'
import {join, resolve} from 'node:path'
import {z} from 'zod'
import {UserError} from '../errors/errors.js'
import {ClusterNameSchema} from '../model/ids.js'
import {formatZodIssue} from '../model/zodIssues.js'
import {readFailure} from '../fs/fileFailure.js'

/** ConnectionConfig is how to reach etcd and which cluster to manage, fully resolved. */
export interface ConnectionConfig {
  endpoints: string[]
  cacert?: string
  cert?: string
  key?: string
  user?: string
  password?: string
  cluster: string
  /** source says where the endpoints came from, for error messages ("--endpoints", "ETCDCTL_ENDPOINTS", a file path, "default"). */
  source: string
}

/** ConnectionInput is one layer (flags, env or file) of partial settings. */
export type ConnectionInput = Partial<Omit<ConnectionConfig, 'source' | 'endpoints'> & {endpoints: string[] | string}>

/** DEFAULT_ENDPOINT is where etcd listens when nothing says otherwise (etcd's own default). */
export const DEFAULT_ENDPOINT = 'http://127.0.0.1:2379'

const FileSchema = z
  .object({
    endpoints: z.union([z.string(), z.array(z.string())]).optional(),
    cacert: z.string().optional(),
    cert: z.string().optional(),
    key: z.string().optional(),
    user: z.string().optional(),
    password: z.string().optional(),
    cluster: z.string().optional(),
  })
  .strict()

/**
 * configFileCandidates lists where the config file is looked for, first match wins:
 * `./shardctl.yaml`, then `config.yaml` in the platform's config directory (`configDir`,
 * oclif's `this.config.configDir`, which honours SHARDCTL_CONFIG_DIR), then
 * `$XDG_CONFIG_HOME/shardctl/config.yaml`. No duplicates.
 */
export function configFileCandidates(cwd: string, env: NodeJS.ProcessEnv, configDir?: string): string[] {
  const home = env.HOME ?? homedir()
  const xdg = env.XDG_CONFIG_HOME ?? join(home, '.config')
  const all = [join(cwd, 'shardctl.yaml'), ...(configDir ? [join(configDir, 'config.yaml')] : []), join(xdg, 'shardctl', 'config.yaml')]
  return [...new Set(all)]
}

/**
 * loadYaml loads the YAML parser on first use: most commands run without a config file,
 * and every command would otherwise pay its load time at start-up. Synchronous (require)
 * so {@link readConfigFile} stays synchronous.
 */
function loadYaml(): typeof import('yaml') {
  return createRequire(import.meta.url)('yaml') as typeof import('yaml')
}

/**
 * readConfigFile loads and validates a YAML config file; relative certificate paths are
 * resolved against the file's folder. Throws UserError(BAD_INPUT) naming the file and field.
 */
export function readConfigFile(path: string): ConnectionInput {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    // A missing or unreadable file is not a YAML problem (a --config typo was "not valid YAML: ENOENT ...").
    throw new UserError('BAD_INPUT', `cannot read config file ${path}: ${readFailure(err)}`, 'check the path, or pass another file with --config')
  }
  let raw: unknown
  try {
    // logLevel 'error': YAML warnings go to stderr quoting the offending line, which may hold the password.
    raw = loadYaml().parse(text, {logLevel: 'error'}) ?? {}
  } catch (err) {
    throw new UserError('BAD_INPUT', `config file ${path} is not valid YAML: ${(err as Error).message.split('\n')[0]}`, 'fix the YAML syntax or remove the file')
  }
  const parsed = FileSchema.safeParse(raw)
  if (!parsed.success) {
    throw new UserError('BAD_INPUT', `config file ${path}: ${formatZodIssue(parsed.error)}`, 'allowed keys: endpoints, cacert, cert, key, user, password, cluster')
  }
  const dir = resolve(path, '..')
  const file = parsed.data
  const abs = (p?: string) => (p === undefined ? undefined : resolve(dir, p))
  return {...file, cacert: abs(file.cacert), cert: abs(file.cert), key: abs(file.key)}
}

/** envInput reads etcdctl's environment variables (ETCDCTL_*) and SHARDCTL_CLUSTER. */
export function envInput(env: NodeJS.ProcessEnv): ConnectionInput {
  const pick = (name: string) => (env[name] === undefined || env[name] === '' ? undefined : env[name])
  return {
    endpoints: pick('ETCDCTL_ENDPOINTS'),
    cacert: pick('ETCDCTL_CACERT'),
    cert: pick('ETCDCTL_CERT'),
    key: pick('ETCDCTL_KEY'),
    user: pick('ETCDCTL_USER'),
    password: pick('ETCDCTL_PASSWORD'),
    cluster: pick('SHARDCTL_CLUSTER'),
  }
}

function splitEndpoints(e: string[] | string): string[] {
  const list = (Array.isArray(e) ? e : e.split(',')).map((s) => s.trim()).filter(Boolean)
  return list.map((s) => (/^[a-z]+:\/\//.test(s) ? s : `http://${s}`))
}

/**
 * resolveConnection merges layers with precedence flags > env > file > fallback endpoint
 * (the local dev etcd if one runs, else {@link DEFAULT_ENDPOINT}). `--user name:password`
 * works as in etcdctl. Throws UserError(BAD_INPUT) for an invalid endpoint, cluster name or
 * half-given client certificate.
 */
export function resolveConnection(layers: {flags: ConnectionInput; env: ConnectionInput; file?: {path: string; input: ConnectionInput}; fallbackEndpoint?: string}): ConnectionConfig {
  const {flags, env, file} = layers
  const first = <K extends keyof ConnectionInput>(k: K) => flags[k] ?? env[k] ?? file?.input[k]
  let source = 'default'
  let endpoints = [layers.fallbackEndpoint ?? DEFAULT_ENDPOINT]
  if (flags.endpoints !== undefined) [endpoints, source] = [splitEndpoints(flags.endpoints), '--endpoints']
  else if (env.endpoints !== undefined) [endpoints, source] = [splitEndpoints(env.endpoints), 'ETCDCTL_ENDPOINTS']
  else if (file?.input.endpoints !== undefined) [endpoints, source] = [splitEndpoints(file.input.endpoints), file.path]
  else if (layers.fallbackEndpoint) source = 'the local etcd (.shardctl/etcd)'
  if (endpoints.length === 0) throw new UserError('BAD_INPUT', `no etcd endpoint given in ${source}`, 'pass --endpoints http://127.0.0.1:2379')
  for (const e of endpoints) {
    let url: URL
    try {
      url = new URL(e)
    } catch {
      throw new UserError('BAD_INPUT', `etcd endpoint "${e}" (from ${source}) is not a URL`, 'use http://host:port or https://host:port, comma-separated')
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new UserError('BAD_INPUT', `etcd endpoint "${e}" must use http or https`, 'use http://host:port or https://host:port')
    if (!url.port) throw new UserError('BAD_INPUT', `etcd endpoint "${e}" has no port`, 'etcd listens on 2379 by default: http://host:2379')
  }
  let user = first('user')
  let password = first('password')
  if (user !== undefined && password === undefined && user.includes(':')) {
    const i = user.indexOf(':')
    ;[user, password] = [user.slice(0, i), user.slice(i + 1)]
  }
  if (user !== undefined && password === undefined) throw new UserError('BAD_INPUT', `etcd user "${user}" has no password`, 'pass --user name:password, or set ETCDCTL_PASSWORD')
  const cert = first('cert')
  const key = first('key')
  if ((cert === undefined) !== (key === undefined)) throw new UserError('BAD_INPUT', 'a client certificate needs both --cert and --key', 'pass both, or neither')
  for (const [flag, path] of [['--cacert', first('cacert')], ['--cert', cert], ['--key', key]] as const) {
    if (path !== undefined && !existsSync(path)) throw new UserError('BAD_INPUT', `${flag} file ${path} does not exist`, 'check the path')
  }
  const cluster = first('cluster') ?? 'default'
  const name = ClusterNameSchema.safeParse(cluster)
  if (!name.success) throw new UserError('BAD_INPUT', `cluster name "${cluster}" is invalid: ${name.error.issues[0]?.message}`, 'use letters, digits, "_", "." or "-"')
  return {endpoints, cacert: first('cacert'), cert, key, user, password, cluster, source}
}
