import {execFileSync} from 'node:child_process'
import {mkdtempSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/** TlsCerts is a throwaway PKI: one CA, a server certificate for 127.0.0.1 and a client certificate. */
export interface TlsCerts {
  dir: string
  caFile: string
  serverCert: string
  serverKey: string
  clientCert: string
  clientKey: string
  /** remove deletes the directory. Idempotent. */
  remove(): void
}

/**
 * makeTlsCerts generates, with openssl, a CA and two certificates signed by it into a temp
 * dir: a server certificate valid for IP 127.0.0.1 and DNS localhost, and a client
 * certificate (CN `root`, which is also the etcd user name when client-cert auth is on).
 * The server certificate also allows clientAuth: etcd health checks made with it against a
 * server requiring client certificates must pass. EC P-256 keys keep generation fast.
 */
export function makeTlsCerts(): TlsCerts {
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-test-pki-'))
  const p = (f: string) => join(dir, f)
  const ssl = (...args: string[]) => execFileSync('openssl', args, {stdio: ['ignore', 'ignore', 'pipe']})
  const ecKey = (file: string) => ssl('genpkey', '-algorithm', 'EC', '-pkeyopt', 'ec_paramgen_curve:P-256', '-out', p(file))

  ecKey('ca.key')
  ssl('req', '-x509', '-new', '-key', p('ca.key'), '-out', p('ca.crt'), '-days', '2', '-subj', '/CN=shardctl-test-ca',
    '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign')

  const issue = (name: string, cn: string, ext: string) => {
    ecKey(`${name}.key`)
    ssl('req', '-new', '-key', p(`${name}.key`), '-out', p(`${name}.csr`), '-subj', `/CN=${cn}`)
    writeFileSync(p(`${name}.ext`), ext)
    ssl('x509', '-req', '-in', p(`${name}.csr`), '-CA', p('ca.crt'), '-CAkey', p('ca.key'), '-CAcreateserial',
      '-out', p(`${name}.crt`), '-days', '2', '-extfile', p(`${name}.ext`))
  }
  issue('server', '127.0.0.1', [
    'basicConstraints=CA:FALSE',
    'keyUsage=critical,digitalSignature,keyEncipherment',
    'extendedKeyUsage=serverAuth,clientAuth',
    'subjectAltName=IP:127.0.0.1,DNS:localhost',
    '',
  ].join('\n'))
  issue('client', 'root', ['basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=clientAuth', ''].join('\n'))

  return {
    dir,
    caFile: p('ca.crt'),
    serverCert: p('server.crt'),
    serverKey: p('server.key'),
    clientCert: p('client.crt'),
    clientKey: p('client.key'),
    remove: () => rmSync(dir, {recursive: true, force: true}),
  }
}
