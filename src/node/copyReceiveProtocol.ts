import {type StreamPace} from './streamPaces.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'
import {type CopySourceAddress} from './copyPuller.js'
import {type NodeRequestErrorWire} from './nodeRequestError.js'
import {type GcFloor} from './lwwSql.js'
import {type SharedFrameSlabs} from './copyFrameSlabs.js'

/**
 * COPY_RECEIVE_CREDIT is how many frames of one stream the copy receive thread may have
 * posted that the main thread has not taken yet. Past it the thread stops reading that
 * stream's socket, so a destination slower than its source (throttle, writer) pushes back
 * on the source over TCP, as when the main thread read the socket itself.
 */
export const COPY_RECEIVE_CREDIT = 2

/** CopyReceiveData is what the copy receive thread is started with: how much to lower its own priority (0: not at all; see lowerThisThreadPriority). */
export interface CopyReceiveData {
  nice: number
  /** slabs are the node's frame slabs the thread receives batches into (absent: a buffer of its own per frame). */
  slabs?: SharedFrameSlabs
  /** slabOwner is the tag the thread takes slabs under (FrameSlabs.attach), so the main thread can free them if it dies. */
  slabOwner?: number
}

/** CopyPeerSettings are what the thread's clients dial a source with: the main thread's copy peer pools' (NodeClients) token, timeout and TLS. */
export interface CopyPeerSettings {
  token: string
  timeoutMs: number
  /** tls: the material peer dials use now (undefined: plaintext); the thread has no process default of its own. */
  tls: TlsMaterial | undefined
}

/** CopyReceiveOpen asks the thread to open stream `id`: `source`'s copy stream of `shard` at `epoch` from `cursor` (NodeClient.copyStream). */
export interface CopyReceiveOpen {
  op: 'open'
  id: number
  source: CopySourceAddress
  /** peers is a new generation of settings when `peersGeneration` is one the thread has not seen (sent once per generation). */
  peersGeneration: number
  peers?: CopyPeerSettings
  shard: number
  epoch: number
  cursor: string | undefined
  frameBytes: number
  /** idleMs bounds the wait for the response and between its bytes (NodeClient.copyStream's default when absent). */
  idleMs?: number
  /** pace asks the source to pace the stream itself (NodeClient.copyStream's `pace`). */
  pace?: StreamPace
}

/** CopyReceiveCredit returns one frame's credit of stream `id`: the main thread took a frame. */
export interface CopyReceiveCredit {
  op: 'credit'
  id: number
}

/** CopyReceiveClose stops stream `id` (aborts its request); the thread answers nothing more for it. */
export interface CopyReceiveClose {
  op: 'close'
  id: number
}

/** CopyReceiveRequest is a message to the copy receive thread. */
export type CopyReceiveRequest = CopyReceiveOpen | CopyReceiveCredit | CopyReceiveClose

/**
 * CopyReceiveErrorData is an error crossing the thread boundary: a NodeRequestError whole
 * (its wire form, so a field it gains crosses too), or any other error's class name,
 * message and code, enough to rebuild CopyFrameError and to report the rest.
 */
export type CopyReceiveErrorData =
  | {kind: 'node-request'; error: NodeRequestErrorWire}
  | {kind: 'other'; name: string; message: string; code: string | undefined}

/**
 * CopyReceiveReply is a message from the thread about stream `id`: a frame (its batch's
 * ArrayBuffer transferred, never copied, or the first `length` bytes of frame slab `slab`,
 * which the receiver of the message must free; the stream's first one carries the source's
 * gc floors, CopyFrame.gcFloors), the stream's end, or its failure. A stream's
 * messages arrive in the order they were posted (one port), so frames keep stream order.
 */
export type CopyReceiveReply =
  | {id: number; type: 'frame'; batch: Uint8Array; cursor: string | undefined; last: boolean; gcFloors?: GcFloor[]}
  | {id: number; type: 'frame'; slab: number; length: number; cursor: string | undefined; last: boolean; gcFloors?: GcFloor[]}
  | {id: number; type: 'end'}
  | {id: number; type: 'error'; error: CopyReceiveErrorData}

/**
 * CopyReceiveThreadError: the copy receive thread failed (died, or could not start), not
 * the source. A copy that fails with it is the destination's fault (the puller reports no
 * failedSource), so the executor does not count it against the source.
 */
export class CopyReceiveThreadError extends Error {
  readonly code = 'INTERNAL'
  constructor(message: string, options?: {cause?: unknown}) {
    super(message, options)
    this.name = 'CopyReceiveThreadError'
  }
}
