import {type ListOptions, type Store, type StoredValue} from './store.js'

/**
 * scanInParts reads every key under `prefix`, as {@link Store.scan} does, and hands each page
 * to `onPage` as it arrives, instead of holding the whole listing: a caller that folds pages
 * into its own form (a follower decoding shard records) decodes one part while etcd answers
 * another, and drops each page's raw values at once. The prefix is read as parts cut at
 * `splitKeys` ([prefix, k1), [k1, k2), ..., [kn, end of prefix)), {@link PARTS_IN_FLIGHT} at
 * a time and all at one revision (`opts.revision`, else the store's current one, read first;
 * the revision is returned). The parts cover the prefix exactly once whatever the split keys
 * are (unsorted or outside the prefix ones are ignored). Pages arrive in key order within a
 * part, parts in no promised order; `part` is the page's part index (0 for the first part).
 * `onPage` runs synchronously and must not throw (a throw rejects the scan). Throws as
 * {@link Store.list}; a caller must not use what it folded before the promise resolves (the
 * listing is only whole, and consistent, then).
 */
export async function scanInParts(store: Store, prefix: string, splitKeys: readonly string[], onPage: (items: readonly StoredValue[], part: number) => void, opts: ListOptions = {}): Promise<bigint> {
  const cuts = [...new Set(splitKeys.filter((k) => k.startsWith(prefix) && k > prefix))].sort()
  if (cuts.length === 0) {
    let revision = opts.revision
    for await (const page of store.scan(prefix, opts)) {
      revision = page.revision
      onPage(page.items, 0)
    }
    return revision ?? (await store.revision())
  }
  const revision = opts.revision ?? (await store.revision())
  const starts: (string | undefined)[] = [undefined, ...cuts]
  let next = 0
  const worker = async () => {
    while (next < starts.length) {
      const i = next++
      for await (const page of store.scan(prefix, {pageSize: opts.pageSize, revision, from: starts[i], end: cuts[i]})) onPage(page.items, i)
    }
  }
  await Promise.all(Array.from({length: Math.min(PARTS_IN_FLIGHT, starts.length)}, worker))
  return revision
}

/**
 * listInParts returns every key under `prefix` in key order, as {@link Store.list} does,
 * read as {@link scanInParts} reads it (parts cut at `splitKeys`, two at a time, one
 * revision). Throws as {@link Store.list}.
 */
export async function listInParts(store: Store, prefix: string, splitKeys: readonly string[], opts: ListOptions = {}): Promise<{items: StoredValue[]; revision: bigint}> {
  const parts: StoredValue[][] = []
  const revision = await scanInParts(store, prefix, splitKeys, (items, part) => (parts[part] ??= []).push(...items), opts)
  return {items: parts.flat(), revision}
}

/**
 * PARTS_IN_FLIGHT is how many parts are read at once: two keep etcd and the client's decoding
 * both busy. More only queue responses behind the one being decoded, on the client's one
 * thread, until a request outlives its deadline (5 s): ten parts at once failed a node's
 * start-up that way at 100k shards on the loaded machine.
 */
const PARTS_IN_FLIGHT = 2
