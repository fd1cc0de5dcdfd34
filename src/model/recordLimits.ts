/**
 * The size limits of one record, a fact of the data model that the key check (kvKey.ts), the
 * router and the node all read, so they live here and not in the node. Apart from the node
 * protocol's schemas (src/node/protocol.ts re-exports them): the storage writer and copy
 * reader threads encode records with these, and importing protocol.ts there loaded zod and
 * built every schema in each thread's isolate. No imports: keep it so, the threads bundle it.
 */

/** MAX_KEY_BYTES bounds a key's UTF-8/binary length. */
export const MAX_KEY_BYTES = 4096
/** MAX_VALUE_BYTES bounds one value (1 MiB). */
export const MAX_VALUE_BYTES = 1024 * 1024
