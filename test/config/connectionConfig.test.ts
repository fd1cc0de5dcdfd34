import {mkdirSync, mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterAll, beforeAll, describe, expect, it} from 'vitest'
import {
  configFileCandidates,
  type ConnectionInput,
  DEFAULT_ENDPOINT,
  envInput,
  readConfigFile,
  resolveConnection,
} from '../../src/config/connectionConfig.js'
import {UserError} from '../../src/errors/errors.js'

let dir: string
let pem: {ca: string; cert: string; key: string}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'shardctl-config-test-'))
  pem = {ca: join(dir, 'ca.pem'), cert: join(dir, 'client.pem'), key: join(dir, 'client-key.pem')}
  for (const f of Object.values(pem)) writeFileSync(f, 'not really a certificate')
})
afterAll(() => rmSync(dir, {recursive: true, force: true}))

const file = (input: ConnectionInput, path = '/etc/shardctl.yaml') => ({path, input})

/** badInput runs `fn` and returns the UserError(BAD_INPUT) it must throw. */
function badInput(fn: () => unknown): UserError {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(UserError)
    expect(err).toMatchObject({code: 'BAD_INPUT'})
    return err as UserError
  }
  throw new Error('expected a BAD_INPUT UserError, nothing was thrown')
}

function writeYaml(name: string, body: string): string {
  const path = join(dir, name)
  mkdirSync(join(path, '..'), {recursive: true})
  writeFileSync(path, body)
  return path
}

describe('resolveConnection precedence', () => {
  it('given endpoints in flags, env and file, then flags win and the source says so', () => {
    const conn = resolveConnection({flags: {endpoints: 'http://flag:1'}, env: {endpoints: 'http://env:2'}, file: file({endpoints: 'http://file:3'}), fallbackEndpoint: 'http://fallback:4'})

    expect(conn).toMatchObject({endpoints: ['http://flag:1'], source: '--endpoints'})
  })

  it('given endpoints in env and file, then env wins', () => {
    const conn = resolveConnection({flags: {}, env: {endpoints: 'http://env:2'}, file: file({endpoints: 'http://file:3'}), fallbackEndpoint: 'http://fallback:4'})

    expect(conn).toMatchObject({endpoints: ['http://env:2'], source: 'ETCDCTL_ENDPOINTS'})
  })

  it('given endpoints only in the file, then the file wins over the fallback and is named as the source', () => {
    const conn = resolveConnection({flags: {}, env: {}, file: file({endpoints: ['http://file:3', 'http://file:5']}, '/home/u/.config/shardctl/config.yaml'), fallbackEndpoint: 'http://fallback:4'})

    expect(conn).toMatchObject({endpoints: ['http://file:3', 'http://file:5'], source: '/home/u/.config/shardctl/config.yaml'})
  })

  it('given no endpoints anywhere, then the local dev etcd is used if one runs, else etcd\'s default', () => {
    expect(resolveConnection({flags: {}, env: {}, fallbackEndpoint: 'http://127.0.0.1:40001'})).toMatchObject({endpoints: ['http://127.0.0.1:40001'], source: 'the local etcd (.shardctl/etcd)'})
    expect(resolveConnection({flags: {}, env: {}})).toMatchObject({endpoints: [DEFAULT_ENDPOINT], source: 'default', cluster: 'default'})
  })

  it('given each field set in a different layer, then each is taken from its highest layer independently', () => {
    const conn = resolveConnection({
      flags: {cluster: 'from-flag'},
      env: {endpoints: 'http://env:2', user: 'env-user', password: 'env-pw', cluster: 'from-env'},
      file: file({endpoints: 'http://file:3', cacert: pem.ca, cert: pem.cert, key: pem.key, user: 'file-user', password: 'file-pw', cluster: 'from-file'}),
    })

    expect(conn).toEqual({endpoints: ['http://env:2'], source: 'ETCDCTL_ENDPOINTS', cacert: pem.ca, cert: pem.cert, key: pem.key, user: 'env-user', password: 'env-pw', cluster: 'from-flag'})
  })

  it('given bare host:port lists with spaces, then each gets http:// and blanks are dropped', () => {
    const conn = resolveConnection({flags: {endpoints: ' 10.0.0.1:2379, https://10.0.0.2:2379 ,,'}, env: {}})

    expect(conn.endpoints).toEqual(['http://10.0.0.1:2379', 'https://10.0.0.2:2379'])
  })
})

describe('resolveConnection credentials', () => {
  it('given --user name:password, then it is split as etcdctl does (the password may contain colons)', () => {
    expect(resolveConnection({flags: {user: 'root:s3:cr:et'}, env: {}})).toMatchObject({user: 'root', password: 's3:cr:et'})
  })

  it('given ETCDCTL_USER=name:password, then it is split too', () => {
    expect(resolveConnection({flags: {}, env: envInput({ETCDCTL_USER: 'alice:pw'})})).toMatchObject({user: 'alice', password: 'pw'})
  })

  it('given a user and ETCDCTL_PASSWORD, then both are used as given', () => {
    expect(resolveConnection({flags: {user: 'bob'}, env: envInput({ETCDCTL_PASSWORD: 'pw'})})).toMatchObject({user: 'bob', password: 'pw'})
  })

  it('given a user without a password, then BAD_INPUT says how to pass one', () => {
    const err = badInput(() => resolveConnection({flags: {user: 'root'}, env: {}}))

    expect(err.message).toContain('"root" has no password')
    expect(err.hint).toContain('--user name:password')
  })

  it('given a client certificate without its key (or the reverse), then BAD_INPUT asks for both', () => {
    expect(badInput(() => resolveConnection({flags: {cert: pem.cert}, env: {}})).message).toMatch(/both --cert and --key/)
    expect(badInput(() => resolveConnection({flags: {key: pem.key}, env: {}})).message).toMatch(/both --cert and --key/)
  })

  it('given the cert in flags and the key in env, then the pair is complete', () => {
    expect(resolveConnection({flags: {cert: pem.cert}, env: {key: pem.key}})).toMatchObject({cert: pem.cert, key: pem.key})
  })

  it('given a certificate file that does not exist, then BAD_INPUT names the flag and the path', () => {
    const missing = join(dir, 'missing.pem')

    expect(badInput(() => resolveConnection({flags: {cacert: missing}, env: {}})).message).toBe(`--cacert file ${missing} does not exist`)
    expect(badInput(() => resolveConnection({flags: {cert: missing, key: pem.key}, env: {}})).message).toContain(`--cert file ${missing}`)
  })
})

describe('resolveConnection validation', () => {
  it.each([
    ['not a url at all', /is not a URL/],
    ['ftp://127.0.0.1:2379', /must use http or https/],
    ['http://127.0.0.1', /has no port/],
  ])('given the endpoint %j, then BAD_INPUT names it', (endpoint, message) => {
    const err = badInput(() => resolveConnection({flags: {endpoints: endpoint}, env: {}}))

    expect(err.message).toMatch(message)
    expect(err.hint).toBeTruthy()
  })

  it('given a bad endpoint in the environment, then the message names ETCDCTL_ENDPOINTS', () => {
    expect(badInput(() => resolveConnection({flags: {}, env: envInput({ETCDCTL_ENDPOINTS: 'http://[bad'})})).message).toContain('from ETCDCTL_ENDPOINTS')
  })

  it('given an endpoint list with nothing in it, then BAD_INPUT says no endpoint was given', () => {
    expect(badInput(() => resolveConnection({flags: {endpoints: ' , '}, env: {}})).message).toMatch(/no etcd endpoint given in --endpoints/)
  })

  it.each(['', 'has/slash', '-leading-dash', 'x'.repeat(64), 'spaces here'])('given the cluster name %j, then BAD_INPUT names it', (cluster) => {
    const err = badInput(() => resolveConnection({flags: {cluster}, env: {}}))

    expect(err.message).toContain(`cluster name "${cluster}" is invalid`)
  })

  it.each(['prod', 'eu-west.1', 'a_b', '0'])('given the cluster name %j, then it is accepted', (cluster) => {
    expect(resolveConnection({flags: {cluster}, env: {}}).cluster).toBe(cluster)
  })
})

describe('envInput', () => {
  it('reads etcdctl\'s variables and SHARDCTL_CLUSTER, treating empty ones as unset', () => {
    const env = envInput({ETCDCTL_ENDPOINTS: 'http://e:1', ETCDCTL_CACERT: '/ca', ETCDCTL_CERT: '', ETCDCTL_KEY: '/k', ETCDCTL_USER: 'u', ETCDCTL_PASSWORD: 'p', SHARDCTL_CLUSTER: 'c', UNRELATED: 'x'})

    expect(env).toEqual({endpoints: 'http://e:1', cacert: '/ca', cert: undefined, key: '/k', user: 'u', password: 'p', cluster: 'c'})
  })
})

describe('readConfigFile', () => {
  it('given a valid file, then certificate paths are resolved against the file\'s folder', () => {
    const path = writeYaml('proj/shardctl.yaml', 'endpoints: [http://a:1, "b:2"]\ncacert: certs/ca.pem\ncert: /abs/client.pem\nkey: ../key.pem\nuser: root\npassword: pw\ncluster: prod\n')

    expect(readConfigFile(path)).toEqual({endpoints: ['http://a:1', 'b:2'], cacert: join(dir, 'proj/certs/ca.pem'), cert: '/abs/client.pem', key: join(dir, 'key.pem'), user: 'root', password: 'pw', cluster: 'prod'})
  })

  it('given an empty file, then it contributes nothing', () => {
    expect(readConfigFile(writeYaml('empty.yaml', ''))).toEqual({cacert: undefined, cert: undefined, key: undefined})
  })

  it('given broken YAML, then BAD_INPUT names the file', () => {
    const path = writeYaml('broken.yaml', 'endpoints: [http://a:1\ncluster: : :\n')

    const err = badInput(() => readConfigFile(path))

    expect(err.message).toMatch(new RegExp(`^config file ${path} is not valid YAML: `))
    expect(err.message).not.toContain('\n')
  })

  it('given a file that does not exist (a --config typo), then BAD_INPUT says it cannot be read, not that its YAML is invalid', () => {
    const path = join(dir, 'missing.yaml')

    const err = badInput(() => readConfigFile(path))

    expect(err.message).toBe(`cannot read config file ${path}: no such file`)
    expect(err.hint).toBe('check the path, or pass another file with --config')
  })

  it('given a directory instead of a file, then BAD_INPUT says so', () => {
    mkdirSync(join(dir, 'a-dir.yaml'), {recursive: true})

    expect(badInput(() => readConfigFile(join(dir, 'a-dir.yaml'))).message).toBe(`cannot read config file ${join(dir, 'a-dir.yaml')}: it is a directory`)
  })

  it('given an unknown key, then BAD_INPUT names the file and lists the allowed keys', () => {
    const path = writeYaml('typo.yaml', 'endpoint: http://a:1\n')

    const err = badInput(() => readConfigFile(path))

    expect(err.message).toContain(path)
    expect(err.message).toContain('endpoint')
    expect(err.hint).toMatch(/allowed keys: endpoints, cacert/)
  })

  it('given a field of the wrong type, then BAD_INPUT names the field', () => {
    const path = writeYaml('types.yaml', 'cluster: [a, b]\n')

    expect(badInput(() => readConfigFile(path)).message).toMatch(new RegExp(`config file ${path}: cluster: `))
  })

  it('given a YAML scalar instead of a mapping, then BAD_INPUT names the file', () => {
    const path = writeYaml('scalar.yaml', 'just a string\n')

    expect(badInput(() => readConfigFile(path)).message).toContain(path)
  })

  it('given a file read in, then its values feed resolveConnection and its path is the source', () => {
    const path = writeYaml('feed/shardctl.yaml', 'endpoints: 127.0.0.1:23790\ncluster: from-file\n')

    const conn = resolveConnection({flags: {}, env: {}, file: {path, input: readConfigFile(path)}})

    expect(conn).toMatchObject({endpoints: ['http://127.0.0.1:23790'], cluster: 'from-file', source: path})
  })
})

describe('configFileCandidates', () => {
  it('looks in the working dir first, then XDG_CONFIG_HOME (or ~/.config)', () => {
    expect(configFileCandidates('/work', {HOME: '/home/u'})).toEqual(['/work/shardctl.yaml', '/home/u/.config/shardctl/config.yaml'])
    expect(configFileCandidates('/work', {HOME: '/home/u', XDG_CONFIG_HOME: '/xdg'})).toEqual(['/work/shardctl.yaml', '/xdg/shardctl/config.yaml'])
  })

  it("looks in the CLI's config directory (oclif's configDir) before the XDG default, without duplicates", () => {
    expect(configFileCandidates('/work', {HOME: '/home/u'}, '/etc/shardctl')).toEqual(['/work/shardctl.yaml', '/etc/shardctl/config.yaml', '/home/u/.config/shardctl/config.yaml'])
    expect(configFileCandidates('/work', {HOME: '/home/u'}, '/home/u/.config/shardctl')).toEqual(['/work/shardctl.yaml', '/home/u/.config/shardctl/config.yaml'])
  })
})
