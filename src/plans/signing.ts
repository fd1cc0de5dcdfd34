import {createHash, createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject, sign, verify} from 'node:crypto'
import {readFileSync} from 'node:fs'
import {UserError} from '../errors/errors.js'
import {hashPlan, type Plan} from '../model/plan.js'
import {readFailure} from '../fs/fileFailure.js'

/**
 * Plan signing: what CI reviewed is what runs. A signature is Ed25519 (node:crypto) over
 * a domain-separated message naming the plan's sha256 `hash`, which covers every other
 * field; so altering any field breaks either the hash or the signature. Keys are PEM files
 * (PKCS#8 private, SPKI public); a key is named by its `keyId`, the first 16 hex digits of
 * the sha256 of its SPKI DER. Nothing here prints or returns key material.
 */

const MESSAGE_PREFIX = 'shardctl plan signature v1\n'

function message(hash: string): Buffer {
  return Buffer.from(`${MESSAGE_PREFIX}${hash}`)
}

/** keyIdOf returns the key id of an Ed25519 public (or private: its public half) key. */
export function keyIdOf(key: KeyObject): string {
  const pub = key.type === 'private' ? createPublicKey(key) : key
  return createHash('sha256').update(pub.export({type: 'spki', format: 'der'})).digest('hex').slice(0, 16)
}

/** SigningKeyPair is a new key pair as PEM text, with its id. */
export interface SigningKeyPair {
  keyId: string
  privateKeyPem: string
  publicKeyPem: string
}

/** generateSigningKeyPair makes a fresh Ed25519 key pair. */
export function generateSigningKeyPair(): SigningKeyPair {
  const {privateKey, publicKey} = generateKeyPairSync('ed25519')
  return {
    keyId: keyIdOf(publicKey),
    privateKeyPem: privateKey.export({type: 'pkcs8', format: 'pem'}).toString(),
    publicKeyPem: publicKey.export({type: 'spki', format: 'pem'}).toString(),
  }
}

/**
 * readKeyFile reads an Ed25519 PEM key (`private`: PKCS#8; `public`: SPKI only). Throws
 * UserError(BAD_INPUT) naming the file — never its content — when it cannot be read, is not
 * a PEM key, or is not Ed25519; and when `public` is asked for and the file holds a private
 * key: node:crypto would derive the public half and verify with it, but a verifier handed
 * the signing key is a mistake that copies that key into every place that verifies (CI).
 */
export function readKeyFile(path: string, kind: 'private' | 'public'): KeyObject {
  let text: Buffer
  try {
    text = readFileSync(path)
  } catch (e) {
    throw new UserError('BAD_INPUT', `${kind} key ${path}: cannot read it (${readFailure(e)})`, 'check the path; create a key pair with `shardctl plan keygen`')
  }
  // node:crypto reads the first PEM block and ignores the rest: a file of several keys (an old and a
  // new one during a rotation) would trust only the first while its owner believes it trusts them all.
  const blocks = text.toString('latin1').match(/-----BEGIN [A-Z0-9 ]+-----/g)?.length ?? 0
  if (blocks > 1) throw new UserError('BAD_INPUT', `${kind} key ${path}: holds ${blocks} PEM blocks; exactly one key is read, and the others would be ignored`, 'give a file with one key: a plan is checked against exactly one trusted key')
  if (kind === 'public' && isPrivateKey(text)) throw new UserError('BAD_INPUT', `public key ${path}: is a private key; a verifier must be given only the public half, never the signing key`, 'pass the .pub file `shardctl plan keygen` wrote beside it, or derive it with `openssl pkey -in KEYFILE -pubout -out KEYFILE.pub`')
  let key: KeyObject
  try {
    key = kind === 'private' ? createPrivateKey(text) : createPublicKey(text)
  } catch {
    throw new UserError('BAD_INPUT', `${kind} key ${path}: not a PEM ${kind === 'private' ? 'PKCS#8 private' : 'SPKI public'} key`, 'create a key pair with `shardctl plan keygen`')
  }
  if (key.asymmetricKeyType !== 'ed25519') throw new UserError('BAD_INPUT', `${kind} key ${path}: is ${key.asymmetricKeyType ?? 'not an asymmetric'} key, not Ed25519`, 'create a key pair with `shardctl plan keygen`')
  return key
}

/** isPrivateKey tells whether `text` parses as a private key (any type): createPublicKey would accept it too. */
function isPrivateKey(text: Buffer): boolean {
  try {
    createPrivateKey(text)
    return true
  } catch {
    return false
  }
}

/**
 * signPlan returns `plan` with a signature by `privateKey` over its hash (replacing any
 * earlier one). Throws UserError(BAD_INPUT) when the plan's hash does not match its body:
 * a modified plan is never signed.
 */
export function signPlan(plan: Plan, privateKey: KeyObject): Plan {
  if (hashPlan(plan) !== plan.hash) throw new UserError('BAD_INPUT', `plan ${plan.id}: hash does not match its body; refusing to sign a modified plan`, 'compute a new plan with `shardctl plan`')
  const value = sign(null, message(plan.hash), privateKey).toString('base64')
  return {...plan, signature: {alg: 'ed25519', keyId: keyIdOf(privateKey), value}}
}

/**
 * verifyPlanSignature checks that `plan` is unaltered and signed by `publicKey`. Returns the
 * key id; throws UserError(BAD_INPUT) saying which: not signed, hash mismatch (altered after
 * computing), signed by another key, or a signature that does not verify (altered after signing).
 */
export function verifyPlanSignature(plan: Plan, publicKey: KeyObject): string {
  const expectedId = keyIdOf(publicKey)
  if (!plan.signature) throw new UserError('BAD_INPUT', `plan ${plan.id} is not signed; a signature by key ${expectedId} is required`, 'sign it where it is reviewed: `shardctl plan --sign KEYFILE`')
  if (hashPlan(plan) !== plan.hash) throw new UserError('BAD_INPUT', `plan ${plan.id} has been modified: its sha256 does not match its body`, 'recompute and re-sign it; never edit plan files by hand')
  if (plan.signature.keyId !== expectedId) throw new UserError('BAD_INPUT', `plan ${plan.id} is signed by key ${plan.signature.keyId}, not by the required key ${expectedId}`, 'sign it with the key CI trusts')
  const bytes = Buffer.from(plan.signature.value, 'base64')
  // Base64 leaves 4 bits of the last character unused, which Buffer ignores: 16 spellings decode to
  // the same signature. Only the one `plan --sign` writes is accepted, so a signed file has one form.
  if (bytes.toString('base64') !== plan.signature.value) throw new UserError('BAD_INPUT', `plan ${plan.id}: the signature is not in canonical base64: it was edited after signing`, 'recompute and re-sign it; never edit plan files by hand')
  const ok = verify(null, message(plan.hash), publicKey, bytes)
  if (!ok) throw new UserError('BAD_INPUT', `plan ${plan.id}: the signature does not verify: the plan was altered after signing`, 'recompute and re-sign it; never edit plan files by hand')
  return expectedId
}

/**
 * requirePlanSignature is `apply --require-signature PUBKEY`: reads the key and verifies
 * `plan` (see {@link verifyPlanSignature}). Without a plan (`--resume`) it refuses: only a
 * plan file can be verified. Returns the key id.
 */
export function requirePlanSignature(plan: Plan | undefined, publicKeyPath: string): string {
  const key = readKeyFile(publicKeyPath, 'public')
  if (!plan) throw new UserError('BAD_INPUT', '--require-signature needs the plan file: `apply --resume` has none to verify', 'run `shardctl apply PLAN --require-signature KEY` again: it resumes that plan\'s moves')
  return verifyPlanSignature(plan, key)
}
