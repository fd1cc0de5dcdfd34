import {join} from 'node:path'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {BugError} from '../errors/errors.js'
import {type RouterCredentials} from '../router/routerClient.js'
import {createCaFiles, createLeafFiles} from '../security/certFiles.js'
import {setClusterSecurity} from '../security/clusterSecurity.js'
import {writeSecretFile} from '../security/secretFile.js'
import {addUser, putRole} from '../security/userService.js'
import {loadTlsMaterial, type TlsMaterial} from '../transport/tlsMaterial.js'

/** DEMO_USER is the router user the demo's clients authenticate as (a token, role DEMO_ROLE). */
export const DEMO_USER = 'demo-client'
/** DEMO_ROLE grants read and write on every key. */
export const DEMO_ROLE = 'demo-readwrite'

/** DemoPki is the demo's throwaway cluster PKI: file paths only (contents stay in the files). */
export interface DemoPki {
  dir: string
  ca: string
  /** client is the demo process's own client certificate (executor: nodes require mutual TLS). */
  client: {cert: string; key: string}
}

/** DemoSecurity is what a secure demo's clients use, and where an operator finds the same. */
export interface DemoSecurity {
  pki: DemoPki
  /** tokenFile holds DEMO_USER's token (0600). */
  tokenFile: string
  /** nodeTls is the demo process's mutual-TLS material for dialling nodes. */
  nodeTls: TlsMaterial
  /** routerCredentials are the clients': the CA (a server-authenticated TLS client) and the user's token. */
  routerCredentials: RouterCredentials
}

/** CERT_DAYS: the demo's certificates live a day (they are deleted with the demo anyway). */
const CERT_DAYS = 1

/**
 * createDemoPki writes a CA and the demo's client certificate into `<dataDir>/certs` with
 * the same code as `shardctl cert create-ca` / `create-client` (keys 0600).
 */
export async function createDemoPki(dataDir: string, now: Date): Promise<DemoPki> {
  const dir = join(dataDir, 'certs')
  const ca = await createCaFiles({dir, days: CERT_DAYS, force: false, now, commonName: 'shardctl-demo-ca'})
  const client = await createLeafFiles('client', 'demo', [], {dir, days: CERT_DAYS, force: false, now})
  return {dir, ca: ca.cert, client: {cert: client.cert, key: client.key}}
}

/**
 * issueServerCertificate issues a node certificate (as `shardctl cert create-node`) for a
 * node or router the demo starts on 127.0.0.1; returns its --tls-* flags.
 */
export async function issueServerCertificate(pki: DemoPki, name: string, now: Date): Promise<string[]> {
  const out = await createLeafFiles('node', name, ['127.0.0.1', 'localhost'], {dir: pki.dir, days: CERT_DAYS, force: false, now})
  return ['--tls-cert', out.cert, '--tls-key', out.key, '--tls-ca', pki.ca]
}

/**
 * secureDemoCluster does what `shardctl cluster security --tls-only --auth`, `role add` and
 * `user add` do for the demo cluster: every data-plane process must speak TLS, routers
 * demand a user, and DEMO_USER (read/write on every key) gets a token in
 * `<pki.dir>/demo-client.token` (0600). Call it after the cluster exists and before its
 * processes start. Returns what the demo's clients use.
 */
export async function secureDemoCluster(ctx: ServiceContext, pki: DemoPki): Promise<DemoSecurity> {
  await setClusterSecurity(ctx, {tlsOnly: true, authRequired: true})
  await putRole(ctx, DEMO_ROLE, 'write', [''])
  const {token} = await addUser(ctx, DEMO_USER, [DEMO_ROLE], {token: true, certificate: false})
  const tokenFile = join(pki.dir, `${DEMO_USER}.token`)
  // addUser always mints a token when asked for one; the guard keeps the type honest.
  if (token === undefined) throw new BugError('addUser returned no token')
  writeSecretFile(tokenFile, token, 'the demo token file')
  const nodeTls = loadTlsMaterial({cert: pki.client.cert, key: pki.client.key, ca: pki.ca}, 'certificate')
  const routerTls = loadTlsMaterial({ca: pki.ca}, 'ca-only')
  if (!nodeTls || !routerTls) throw new BugError('the demo PKI did not load')
  return {pki, tokenFile, nodeTls, routerCredentials: {tls: routerTls, token}}
}
