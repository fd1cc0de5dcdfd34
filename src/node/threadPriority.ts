import {readlinkSync} from 'node:fs'
import {getPriority, setPriority} from 'node:os'

/**
 * COPY_THREAD_NICE is how much a thread that only serves shard copies raises its own nice
 * value above the process's (the copy reader thread). On a machine with fewer cores than busy threads, Linux's
 * scheduler then hands the cores to the threads serving clients first (a nice-10 thread
 * weighs about a tenth of a nice-0 one), so client latency holds during a copy; with idle
 * cores the copy still runs at full speed, since nice only orders threads that compete.
 * SHARDCTL_COPY_THREAD_NICE (an integer 0..39; 0 turns it off) overrides it, for measuring
 * both ways on one machine; `node serve` refuses any other value (tuningEnv.ts).
 */
export const COPY_THREAD_NICE = copyThreadNice(process.env.SHARDCTL_COPY_THREAD_NICE)

/**
 * COPY_RECEIVE_THREAD_NICE is how much the copy receive thread (copyReceiveWorker.ts)
 * raises its nice value: SHARDCTL_COPY_RECEIVE_NICE (an integer 0..39), 0 (its priority
 * left alone) when unset, for measuring both ways (see copyReceiver.ts for what was measured);
 * `node serve` refuses any other value (tuningEnv.ts).
 */
export const COPY_RECEIVE_THREAD_NICE = process.env.SHARDCTL_COPY_RECEIVE_NICE?.trim() ? Number(process.env.SHARDCTL_COPY_RECEIVE_NICE) : 0

/** copyThreadNice reads the override: unset or empty is 10, anything else is taken as a number (validated where it is used). */
export function copyThreadNice(value: string | undefined): number {
  return value === undefined || value.trim() === '' ? 10 : Number(value)
}

/**
 * threadIdOf parses the target of `/proc/thread-self` ("<pid>/task/<tid>") into the
 * thread's kernel id; undefined for anything else.
 */
export function threadIdOf(link: string): number | undefined {
  const m = /^(\d+)\/task\/(\d+)$/.exec(link.trim())
  const tid = Number(m?.[2])
  return m && Number.isSafeInteger(tid) && tid > 0 ? tid : undefined
}

/** ThreadPriorityResult says what {@link lowerThisThreadPriority} did: the thread's id and new nice value, or why it did nothing. */
export type ThreadPriorityResult = {ok: true; tid: number; nice: number} | {ok: false; reason: string}

/** ThreadPriorityIo is the system access lowerThisThreadPriority needs (replaced in tests). */
export interface ThreadPriorityIo {
  readlink: (path: string) => string
  getPriority: (tid: number) => number
  setPriority: (tid: number, nice: number) => void
}

const systemIo: ThreadPriorityIo = {readlink: readlinkSync, getPriority, setPriority}

/**
 * lowerThisThreadPriority raises the calling thread's (not the process's) nice value by
 * `by` (capped at 19, the lowest priority), on Linux, where a thread has its own nice
 * value addressed by its kernel thread id. Relative, so a node started under `nice`
 * keeps its copy below its own client threads and never asks for a higher priority. It never throws: where that is not possible (another OS, no /proc, a refused
 * setpriority) it leaves the priority alone and says why, since a copy at normal priority
 * is still correct, only harder on client latency. Raising one's own nice value needs no
 * privilege; lowering it back would (RLIMIT_NICE), so call it only from a thread that does
 * nothing else for its whole life.
 */
export function lowerThisThreadPriority(by: number, io: ThreadPriorityIo = systemIo): ThreadPriorityResult {
  if (!Number.isInteger(by) || by < 0 || by > 39) return {ok: false, reason: `the nice increment must be an integer in 0..39, got ${by}`}
  let link: string
  try {
    link = io.readlink('/proc/thread-self')
  } catch (err) {
    return {ok: false, reason: `no /proc/thread-self (${(err as Error).message})`}
  }
  const tid = threadIdOf(link)
  if (tid === undefined) return {ok: false, reason: `unexpected /proc/thread-self target ${JSON.stringify(link)}`}
  let nice = 0
  try {
    nice = Math.min(19, io.getPriority(tid) + by)
    io.setPriority(tid, nice)
  } catch (err) {
    return {ok: false, reason: `setpriority(${tid}, ${nice}) failed: ${(err as Error).message}`}
  }
  return {ok: true, tid, nice}
}
