import {type ListOptions, type Store, type StoredValue} from './store.js'

/**
 * listInParts returns every key under `prefix` in key order, as {@link Store.list} does,
 * but reads it as parts cut at `splitKeys` ([prefix, k1), [k1, k2), ..., [kn, end of
 * prefix)), {@link PARTS_IN_FLIGHT} at a time and all at one revision (`opts.revision`, else
 * the store's current one, read first). The parts cover the prefix exactly once whatever the
 * split keys are (unsorted or outside the prefix ones are ignored), so they only decide how
 * the work is cut: etcd answers one part while the client decodes another, and a paged list
 * no longer waits for each page's last key before asking for the next. Throws as {@link Store.list}.
 */
export async function listInParts(store: Store, prefix: string, splitKeys: readonly string[], opts: ListOptions = {}): Promise<{items: StoredValue[]; revision: bigint}> {
  const cuts = [...new Set(splitKeys.filter((k) => k.startsWith(prefix) && k > prefix))].sort()
  if (cuts.length === 0) return store.list(prefix, opts)
  const revision = opts.revision ?? (await store.revision())
  const starts: (string | undefined)[] = [undefined, ...cuts]
  const parts: StoredValue[][] = []
  let next = 0
  const worker = async () => {
    while (next < starts.length) {
      const i = next++
      const items: StoredValue[] = []
      for await (const page of store.scan(prefix, {pageSize: opts.pageSize, revision, from: starts[i], end: cuts[i]})) items.push(...page.items)
      parts[i] = items
    }
  }
  await Promise.all(Array.from({length: Math.min(PARTS_IN_FLIGHT, starts.length)}, worker))
  return {items: parts.flat(), revision}
}

/**
 * PARTS_IN_FLIGHT is how many parts are read at once: two keep etcd and the client's decoding
 * both busy. More only queue responses behind the one being decoded, on the client's one
 * thread, until a request outlives its deadline (5 s): ten parts at once failed a node's
 * start-up that way at 100k shards on the loaded machine.
 */
const PARTS_IN_FLIGHT = 2

