// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata API.
import 'reflect-metadata'
import * as x509 from '@peculiar/x509'
import {isIP} from 'node:net'
import {randomBytes, webcrypto} from 'node:crypto'

// The library's types expect the DOM's Crypto; Node's webcrypto is that API.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0])

type CryptoKeyPair = webcrypto.CryptoKeyPair
type CryptoKey = webcrypto.CryptoKey

/** ECDSA P-256 with SHA-256: small keys, fast handshakes, accepted by every TLS stack Node ships. */
const ALGORITHM = {name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256'} as const

/** PemPair is a certificate and its private key (PKCS#8), both PEM. */
export interface PemPair {
  certPem: string
  keyPem: string
}

/** Validity is a certificate's lifetime: from `notBefore` for `days` days. */
export interface Validity {
  notBefore: Date
  days: number
}

/** LeafKind: `node` certificates serve and dial (nodes, routers: serverAuth + clientAuth); `client` ones only dial. */
export type LeafKind = 'node' | 'client'

/** LeafRequest describes one certificate to issue under the CA. */
export interface LeafRequest {
  kind: LeafKind
  /** commonName is the node id, or the user name a router maps a client certificate to. */
  commonName: string
  /** hosts are the IPs and DNS names a node certificate is valid for (its SANs); ignored for clients. */
  hosts: readonly string[]
  validity: Validity
}

/**
 * createCa makes a self-signed CA (basicConstraints CA:TRUE pathlen 0, keyCertSign) with a
 * fresh P-256 key. Pure apart from key generation: the caller passes the validity (and so
 * the clock).
 */
export async function createCa(commonName: string, validity: Validity): Promise<PemPair> {
  const keys = await newKeys()
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: dn(commonName),
    ...dates(validity),
    keys,
    signingAlgorithm: ALGORITHM,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  })
  return {certPem: pemText(cert.toString('pem')), keyPem: await keyPem(keys.privateKey)}
}

/**
 * issueCertificate signs a new P-256 key's certificate with `ca`. Node certificates carry
 * every host as a SAN (IP or DNS) and both serverAuth and clientAuth, since a node both
 * serves and dials its peers; client certificates carry clientAuth only. Throws Error when
 * the CA's PEM cannot be parsed or a node certificate has no host.
 */
export async function issueCertificate(ca: PemPair, req: LeafRequest): Promise<PemPair> {
  if (req.kind === 'node' && req.hosts.length === 0) throw new Error('a node certificate needs at least one host (IP or DNS name)')
  const caCert = new x509.X509Certificate(ca.certPem)
  const caKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(ca.keyPem), ALGORITHM, false, ['sign'])
  const keys = await newKeys()
  const usages = req.kind === 'node' ? [x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth] : [x509.ExtendedKeyUsage.clientAuth]
  const extensions: x509.Extension[] = [
    new x509.BasicConstraintsExtension(false, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyAgreement, true),
    new x509.ExtendedKeyUsageExtension(usages),
    await x509.AuthorityKeyIdentifierExtension.create(caCert),
  ]
  if (req.kind === 'node') extensions.push(new x509.SubjectAlternativeNameExtension(req.hosts.map((h) => (isIP(h) ? {type: 'ip' as const, value: h} : {type: 'dns' as const, value: h}))))
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serial(),
    subject: dn(req.commonName),
    issuer: caCert.subject,
    ...dates(req.validity),
    publicKey: keys.publicKey,
    signingKey: caKey,
    signingAlgorithm: ALGORITHM,
    extensions,
  })
  return {certPem: pemText(cert.toString('pem')), keyPem: await keyPem(keys.privateKey)}
}

async function newKeys(): Promise<CryptoKeyPair> {
  return (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as CryptoKeyPair
}

async function keyPem(key: CryptoKey): Promise<string> {
  return pemText(x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY'))
}

// PEM with \n line ends and a final newline, so files concatenate into valid bundles (CA rotation).
function pemText(pem: string): string {
  const lf = pem.replace(/\r\n/g, '\n')
  return lf.endsWith('\n') ? lf : `${lf}\n`
}

function dates(v: Validity): {notBefore: Date; notAfter: Date} {
  return {notBefore: v.notBefore, notAfter: new Date(v.notBefore.getTime() + v.days * 86_400_000)}
}

// 16 random bytes with the top bit clear: a positive serial, unique without a counter.
function serial(): string {
  const b = randomBytes(16)
  b[0]! &= 0x7f
  return b.toString('hex')
}

// CN values are node ids or user names (letters, digits, "_", ".", "-"): nothing to escape.
function dn(commonName: string): string {
  return `CN=${commonName}`
}
