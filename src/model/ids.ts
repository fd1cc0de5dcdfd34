import {z} from 'zod'

/** NodeIdSchema: node ids are short, printable and safe in etcd keys and file names. */
export const NodeIdSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'node id must be 1-63 characters of letters, digits, "_", "." or "-", starting with a letter or digit')

/** ClusterNameSchema: the cluster name is one etcd path segment. */
export const ClusterNameSchema = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'cluster name must be 1-63 characters of letters, digits, "_", "." or "-"')

/** ShardIdSchema: shards are numbered from 0; splits take new numbers from the cluster meta. */
export const ShardIdSchema = z.number().int().nonnegative()

/**
 * badShardIdText is the one line that says shard id argument `name` (as help shows it, e.g.
 * `id` -> ID) was given `input`, which is not a shard id, and the form a shard id takes. The
 * argument parser and the services that check ids against the cluster say it the same way.
 */
export function badShardIdText(name: string, input: string): string {
  return `argument ${name.toUpperCase()}: a shard id is a whole number, 0 or more (shards are numbered from 0); got "${input}"`
}

/** SHARD_LIST_HINT is the next step after a bad shard id: where the ids are listed. */
export const SHARD_LIST_HINT = 'list the shard ids with `shardctl shard list`'

/** AddressSchema: `host:port` of a node or router (IPv6 hosts in brackets). */
export const AddressSchema = z
  .string()
  .regex(/^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+):\d{1,5}$/, 'address must be host:port, e.g. 127.0.0.1:7001')
  .refine((a) => {
    const port = Number(a.slice(a.lastIndexOf(':') + 1))
    return port >= 1 && port <= 65535
  }, 'port must be 1-65535')
