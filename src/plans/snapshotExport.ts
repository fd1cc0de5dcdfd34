import {type ServiceContext} from '../cluster/serviceContext.js'
import {readSnapshot} from '../cluster/snapshotService.js'
import {type ClusterSnapshot} from '../model/snapshot.js'
import {defaultSnapshotPath, STDIO_PATH, writeSnapshotFile} from './planFiles.js'

/** SnapshotExport is what `shardctl snapshot export` produced: the snapshot and the file it went to (null: standard output). */
export interface SnapshotExport {
  snapshot: ClusterSnapshot
  file: string | null
}

/**
 * snapshotDestination decides where an export goes: `out` when given (`-` is standard
 * output, returned as null); without `out`, standard output when it is not a terminal (so
 * `snapshot export | plan --snapshot -` works), else `plans/<cluster>-snapshot-<timestamp>.json`
 * under `cwd`. Pure.
 */
export function snapshotDestination(cluster: string, context: {out?: string; stdoutIsTerminal: boolean; now: Date; cwd: string}): string | null {
  if (context.out !== undefined) return context.out === STDIO_PATH ? null : context.out
  return context.stdoutIsTerminal ? defaultSnapshotPath(cluster, context.now, context.cwd) : null
}

/**
 * exportSnapshot reads the cluster's snapshot from etcd (one revision of the shard map, with
 * liveness, published load and constraints) and writes it to its {@link snapshotDestination}
 * when that is a file, whole or not at all. Prints nothing: with `file: null` the caller
 * prints the snapshot. Throws what {@link readSnapshot} throws (etcd unreachable, no cluster).
 */
export async function exportSnapshot(ctx: ServiceContext, context: {out?: string; stdoutIsTerminal: boolean; now: Date; cwd: string}): Promise<SnapshotExport> {
  const snapshot = await readSnapshot(ctx)
  const file = snapshotDestination(snapshot.cluster.name, context)
  if (file !== null) writeSnapshotFile(snapshot, file)
  return {snapshot, file}
}
