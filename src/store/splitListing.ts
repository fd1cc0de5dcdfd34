import {type ListOptions, type Store, type StoredValue} from './store.js'

/**
 * listInParts returns every key under `prefix` in key order, as {@link Store.list} does,
 * but reads it as parts cut at `splitKeys` ([prefix, k1), [k1, k2), ..., [kn, end of
 * prefix)), all at once and all at one revision (`opts.revision`, else the store's current
 * one, read first). The parts cover the prefix exactly once whatever the split keys are
 * (unsorted or outside the prefix ones are ignored), so they only decide how the work is
 * cut: etcd answers a part while the client decodes another, and a paged list no longer
 * waits for each page's last key before asking for the next. Throws as {@link Store.list}.
 */
export async function listInParts(store: Store, prefix: string, splitKeys: readonly string[], opts: ListOptions = {}): Promise<{items: StoredValue[]; revision: bigint}> {
  const cuts = [...new Set(splitKeys.filter((k) => k.startsWith(prefix) && k > prefix))].sort()
  if (cuts.length === 0) return store.list(prefix, opts)
  const revision = opts.revision ?? (await store.revision())
  const starts: (string | undefined)[] = [undefined, ...cuts]
  const parts = await Promise.all(
    starts.map(async (start, i) => {
      const items: StoredValue[] = []
      for await (const page of store.scan(prefix, {pageSize: opts.pageSize, revision, from: start, end: cuts[i]})) items.push(...page.items)
      return items
    }),
  )
  return {items: parts.flat(), revision}
}

