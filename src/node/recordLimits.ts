/**
 * The size limits of one record, apart from the protocol's schemas (protocol.ts re-exports
 * them): the storage writer and copy reader threads encode records with these, and
 * importing protocol.ts there loaded zod and built every schema in each thread's isolate.
 */

/** MAX_KEY_BYTES bounds a key's UTF-8/binary length. */
export const MAX_KEY_BYTES = 4096
/** MAX_VALUE_BYTES bounds one value (1 MiB). */
export const MAX_VALUE_BYTES = 1024 * 1024
