import {type ServiceContext} from '../cluster/serviceContext.js'
import {setDefaultClientTls} from '../transport/clientTls.js'
import {loadTlsMaterial, type TlsPaths} from '../transport/tlsMaterial.js'
import {requireTransportAllowed} from './clusterSecurity.js'

/**
 * useDataPlaneTls sets up a CLI process that dials nodes (executor, drain, repair): loads
 * its certificate (mutual TLS: nodes require one), refuses plaintext on a TLS-only cluster,
 * and makes the material every node client of the process uses. Throws UserError: BAD_INPUT
 * (unusable files, naming the flag), TLS_REQUIRED (no TLS on a TLS-only cluster).
 */
export async function useDataPlaneTls(ctx: ServiceContext, paths: TlsPaths, who: string): Promise<void> {
  const tls = loadTlsMaterial(paths, 'certificate')
  await requireTransportAllowed(ctx, tls, who)
  setDefaultClientTls(tls)
}
