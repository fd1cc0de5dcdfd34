import {type ServiceContext} from '../cluster/serviceContext.js'

/**
 * securityKeys are the etcd keys of a cluster's security settings, beside the others under
 * `/shardctl/<cluster>/`: `security` (the TLS-only and authentication switches),
 * `auth/roles/<name>` and `auth/users/<name>`. Kept here, not in src/etcd/keys.ts, so the
 * security feature stays one folder.
 */
export function securityKeys(ctx: Pick<ServiceContext, 'keys'>) {
  const p = ctx.keys.prefix
  return {
    security: `${p}security`,
    authPrefix: `${p}auth/`,
    rolesPrefix: `${p}auth/roles/`,
    role: (name: string) => `${p}auth/roles/${name}`,
    usersPrefix: `${p}auth/users/`,
    user: (name: string) => `${p}auth/users/${name}`,
  }
}
