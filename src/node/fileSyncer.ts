import {closeSync, fdatasync, openSync} from 'node:fs'

/**
 * FileSyncer fdatasyncs one file through a descriptor of its own, on libuv's thread pool,
 * so neither the event loop nor the storage writer thread waits for the disk. It exists to
 * flush a SQLite database's WAL (and its database file) ahead of the writer's own fsyncs:
 * an extra fdatasync only makes written pages durable sooner, it never changes what SQLite
 * considers committed.
 *
 * The descriptor opens at the first {@link sync} and stays open until {@link close}.
 * Caution for the database file itself: closing any descriptor of a file drops every POSIX
 * lock the process holds on it, SQLite's included, so close a database file's syncer only
 * after every connection to it closed. (SQLite never locks a `-wal` file.)
 */
export class FileSyncer {
  private fd: number | undefined
  private closed = false

  constructor(private readonly path: string) {}

  /**
   * sync fdatasyncs the file and resolves with the seconds it took; resolves with 0 without
   * syncing when the file does not exist (yet) or the syncer is closed. Rejects with the
   * OS error of a failed sync.
   */
  async sync(): Promise<number> {
    const fd = this.opened()
    if (fd === undefined) return 0
    const started = performance.now()
    await new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve())))
    return (performance.now() - started) / 1000
  }

  /** close closes the descriptor (see the class note for the database file). A sync in flight finishes first only if the caller awaited it. Idempotent. */
  close(): void {
    this.closed = true
    if (this.fd !== undefined) closeSync(this.fd)
    this.fd = undefined
  }

  private opened(): number | undefined {
    if (this.closed) return undefined
    if (this.fd === undefined) {
      try {
        // Read-only is enough for fdatasync on Linux and macOS; it never writes the file.
        this.fd = openSync(this.path, 'r')
      } catch (err) {
        if ((err as {code?: string}).code === 'ENOENT') return undefined
        throw err
      }
    }
    return this.fd
  }
}
