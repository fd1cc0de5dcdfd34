import {keyHash} from '../model/hash.js'
import {type ApplyResult} from './lwwSql.js'
import {type NodeRecord} from './protocol.js'
import {type SpanTable} from './spanTable.js'

/**
 * StoreBatch is the part of a batch (or group of calls) one store serves: `store` undefined is
 * the main file. `calls[c]` are call c's records served by it, `indexes[c][j]` the index in
 * call c of `calls[c][j]`, so results answer in the caller's numbering.
 */
export interface StoreBatch {
  store: string | undefined
  calls: NodeRecord[][]
  indexes: number[][]
}

/**
 * splitByStore cuts each of `calls` (record lists) by the store of `table` serving each
 * record's hash, and returns one {@link StoreBatch} per store that serves at least one
 * record, ordered by the highest hash each holds (the store of the batch's last record in
 * hash order comes last; a copy frame's resume cursor commits with that last part). Every
 * store batch has one entry per call (empty when the call has no record there). Pure.
 */
export function splitByStore(calls: readonly (readonly NodeRecord[])[], table: SpanTable): StoreBatch[] {
  const byStore = new Map<string | undefined, {batch: StoreBatch; top: number}>()
  calls.forEach((records, c) => {
    records.forEach((r, i) => {
      const h = keyHash(r.key)
      const store = table.storeOf(h)
      let part = byStore.get(store)
      if (!part) {
        part = {batch: {store, calls: calls.map(() => []), indexes: calls.map(() => [])}, top: -1}
        byStore.set(store, part)
      }
      part.batch.calls[c]!.push(r)
      part.batch.indexes[c]!.push(i)
      if (h > part.top) part.top = h
    })
  })
  return [...byStore.values()].sort((a, b) => a.top - b.top).map((p) => p.batch)
}

/**
 * joinApplyResults combines the results one call got from each store it was split over
 * (`parts[p]` the store's result for the call's records at `indexes[p]`) into the result one
 * store holding them all gives: counts summed, and every record named (superseded, expired,
 * deletePriors) by its index in the call, in index order. Pure.
 */
export function joinApplyResults(parts: readonly {result: ApplyResult; indexes: readonly number[]}[]): ApplyResult {
  let applied = 0
  let ignored = 0
  const superseded: ApplyResult['superseded'] = []
  const expired: number[] = []
  const deletePriors: NonNullable<ApplyResult['deletePriors']> = []
  for (const {result, indexes} of parts) {
    const at = (i: number) => indexes[i] ?? i
    applied += result.applied
    ignored += result.ignored
    for (const s of result.superseded) superseded.push({...s, i: at(s.i)})
    for (const i of result.expired ?? []) expired.push(at(i))
    for (const d of result.deletePriors ?? []) deletePriors.push({...d, i: at(d.i)})
  }
  superseded.sort((a, b) => a.i - b.i)
  expired.sort((a, b) => a - b)
  deletePriors.sort((a, b) => a.i - b.i)
  const out: ApplyResult = {applied, ignored, superseded}
  if (expired.length > 0) out.expired = expired
  if (deletePriors.length > 0) out.deletePriors = deletePriors
  return out
}
