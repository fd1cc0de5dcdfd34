import {UserError} from '../errors/errors.js'

/**
 * SQLITE_FULL is SQLite's code for a write that found no room: the data dir's file system
 * is full (ENOSPC on the WAL, the database file or the shared-memory index). The
 * transaction rolled back whole, so nothing of it is stored.
 */
export const SQLITE_FULL = 'SQLITE_FULL'

/** isStorageFullCode tells whether a SQLite error code (as a writer reply carries it) means the disk had no room. */
export function isStorageFullCode(code: unknown): boolean {
  return code === SQLITE_FULL
}

/**
 * StorageFullError is a write the node's disk had no room for. It is a UserError
 * NOT_SERVING (503, retriable), so a client, router or executor reads one line saying what
 * is wrong and what to do, instead of 500 INTERNAL "internal error": the node keeps serving
 * reads, the write was not stored (never acknowledged), and writes commit again by
 * themselves once there is room (the writer and its connection stay up). `dataDir` is the
 * node's data dir, named so the operator knows which disk to free.
 */
export class StorageFullError extends UserError {
  constructor(readonly dataDir: string) {
    super('NOT_SERVING', storageFullMessage(dataDir), 'free space on that disk; writes resume by themselves once there is room')
    this.name = 'StorageFullError'
  }
}

/**
 * storageFullMessage is the one line a write refused for want of disk space answers with
 * (the data plane sends no hint, so it says what to do too). Deletes need room too: the
 * node's drops and purges spend its disk reserve (diskReserve.ts) to finish, so draining the
 * node completes, but the node's files do not shrink, so the disk is only really freed by
 * the operator.
 */
export function storageFullMessage(dataDir: string): string {
  return `out of disk space in data dir ${dataDir}: the write was not stored; free space on that disk (deletes and drops need room too); writes resume by themselves once there is room`
}
