/**
 * Lookups of records keyed by node id (verifiedDirs, abandonVotersDirs, a repair's dirs, counts per node). A node id may
 * be `constructor`, `toString` or `valueOf` (NodeIdSchema allows them; `__proto__` it refuses: ids start with a letter or
 * digit), and `record[id]` or `id in record` on a plain object finds Object.prototype's member for such an id: a recorded
 * dir that was never recorded, a voter named by a mark that never named it, a count that is a function.
 */

/** ownValue is `record[key]` when `key` is an own property of `record`, else undefined (never an inherited member). */
export function ownValue<T>(record: Readonly<Record<string, T>> | undefined, key: string): T | undefined {
  return record !== undefined && Object.hasOwn(record, key) ? record[key] : undefined
}

/** hasOwnKey tells whether `key` is an own property of `record` (`in` also finds inherited ones). */
export function hasOwnKey(record: Readonly<Record<string, unknown>> | undefined, key: string): boolean {
  return record !== undefined && Object.hasOwn(record, key)
}
