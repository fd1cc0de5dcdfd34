import {errorMessage} from '../errors/errors.js'
import {type Store} from '../store/store.js'
import {type EtcdBug, etcdBugsIn, etcdVersionWarning} from './etcdKnownBugs.js'

/** EtcdVersionReport is the version of the etcd member a process talks to and the known bugs it has (etcdKnownBugs.ts). */
export interface EtcdVersionReport {
  version: string
  /** bugs are the known bugs it has, without their fix releases (etcdKnownBugs.ts has those). */
  bugs: Omit<EtcdBug, 'fixedIn'>[]
  /** warning is the one-line warning when `bugs` is not empty, else null. */
  warning: string | null
}

/**
 * etcdVersionReport asks the store's server for its version and matches the known bugs.
 * Undefined for a store without a server (the in-memory twin) or a version it cannot read
 * (nothing is known then); throws the store's error when etcd does not answer.
 */
export async function etcdVersionReport(store: Pick<Store, 'serverVersion'>): Promise<EtcdVersionReport | undefined> {
  const version = await store.serverVersion()
  if (version === undefined) return undefined
  const bugs = etcdBugsIn(version)
  if (bugs === undefined) return undefined
  return {version, bugs: bugs.map(({ref, what, risk}) => ({ref, what, risk})), warning: bugs.length > 0 ? etcdVersionWarning(version, bugs) : null}
}

/**
 * warnOnEtcdBugs reports, once, at a node's or router's start, when the etcd it talks to
 * has a known bug that weakens shardctl's guarantees (`warn` gets the one-line warning).
 * Never throws and never holds a start-up: etcd answered every start-up read just before,
 * and a failed version check is only reported through `failed`.
 */
export async function warnOnEtcdBugs(store: Pick<Store, 'serverVersion'>, warn: (line: string) => void, failed: (line: string) => void): Promise<void> {
  try {
    const report = await etcdVersionReport(store)
    if (report?.warning) warn(report.warning)
  } catch (err) {
    failed(`could not read etcd's version to check it for known bugs: ${errorMessage(err)}`)
  }
}
