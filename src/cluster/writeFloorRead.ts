import {parseWriteFloor, type WriteFloor} from '../model/writeFloor.js'
import {getMeta} from './clusterRepo.js'
import {type ServiceContext} from './serviceContext.js'

/** ClusterWriteFloor is `cluster write-floor`'s --json output. */
export interface ClusterWriteFloor {
  cluster: string
  rf: number
  /** floor: null when absent (a cluster from before it) or unreadable; both count as w = 1. */
  floor: WriteFloor | null
  unreadable: boolean
  key: string
}

/** readClusterWriteFloor reads the cluster's write floor (NOT_FOUND when the cluster does not exist). */
export async function readClusterWriteFloor(ctx: ServiceContext): Promise<ClusterWriteFloor> {
  const meta = await getMeta(ctx)
  return {cluster: ctx.cluster, rf: meta.value.rf, ...(await readWriteFloorKey(ctx)), key: ctx.keys.writeFloor}
}

/**
 * readWriteFloorKey reads and parses the write-floor key: `floor` null when the key is absent (a
 * cluster from before it) or does not parse, `unreadable` telling the two apart (`adopt` refuses
 * an unreadable key until it is deleted). Shared by `cluster write-floor` and `cluster status`.
 */
export async function readWriteFloorKey(ctx: ServiceContext): Promise<{floor: WriteFloor | null; unreadable: boolean}> {
  const kv = await ctx.store.get(ctx.keys.writeFloor)
  const floor = kv ? (parseWriteFloor(kv.value) ?? null) : null
  return {floor, unreadable: kv !== undefined && floor === null}
}
