import {describe, expect, it} from 'vitest'
import {WalRestartBook} from '../../src/node/walRestartBook.js'

const MiB = 1024 * 1024
const pageSize = 16384
const restartBytes = 64 * MiB
/** frames is the number of WAL frames (one page each) that hold `bytes`. */
const frames = (bytes: number) => bytes / pageSize

describe('WalRestartBook', () => {
  it('given commits, when counted, then the estimate is their bytes and a wait is due once it reaches restartBytes', () => {
    const book = new WalRestartBook({restartBytes, pageSize})
    book.committed(40 * MiB)
    expect(book.estimate()).toBe(40 * MiB)
    expect(book.mustWait()).toBe(false)
    book.committed(24 * MiB)
    expect(book.mustWait()).toBe(true)
  })

  it('given a checkpoint, when it found the WAL, then the estimate is what it found (the WAL it saw), not the bytes committed before it', () => {
    const book = new WalRestartBook({restartBytes, pageSize})
    book.committed(70 * MiB)
    const mark = book.checkpointBegins()
    book.checkpointFound({log: frames(10 * MiB), checkpointed: frames(8 * MiB)}, mark)
    expect(book.estimate()).toBe(10 * MiB)
    expect(book.mustWait()).toBe(false)
  })

  it('given commits while a checkpoint ran, when it reports, then the bytes committed after it began are added to what it found', () => {
    const book = new WalRestartBook({restartBytes, pageSize})
    book.committed(30 * MiB)
    const mark = book.checkpointBegins()
    book.committed(3 * MiB)
    book.committed(2 * MiB)
    book.checkpointFound({log: frames(30 * MiB), checkpointed: frames(20 * MiB)}, mark)
    expect(book.estimate()).toBe(35 * MiB)
  })

  it('given the estimate reset by a restart while a checkpoint ran, when it reports, then it counts nothing committed meanwhile (never less than what it found)', () => {
    const book = new WalRestartBook({restartBytes, pageSize})
    book.committed(30 * MiB)
    const mark = book.checkpointBegins()
    book.restarted()
    book.committed(MiB)
    book.checkpointFound({log: frames(4 * MiB), checkpointed: frames(4 * MiB)}, mark)
    expect(book.estimate()).toBe(4 * MiB)
  })

  it('given a checkpoint that found the checkpoint lock held (log -1), when it reports, then the estimate and the last checkpoint are unchanged and no fdatasync is asked for', () => {
    const book = new WalRestartBook({restartBytes, pageSize})
    book.committed(20 * MiB)
    const first = {log: frames(20 * MiB), checkpointed: frames(10 * MiB)}
    expect(book.checkpointFound(first, book.checkpointBegins())).toBe(true)
    book.committed(MiB)
    expect(book.checkpointFound({log: -1, checkpointed: -1}, book.checkpointBegins())).toBe(false)
    expect(book.estimate()).toBe(21 * MiB)
    // Still compared with the first one: the same report again copied nothing new.
    expect(book.checkpointFound(first, book.checkpointBegins())).toBe(false)
  })

  it('given successive checkpoints, when they report, then an fdatasync is asked for only when one copied frames the last had not (none copied, or the same report again, asks for none)', () => {
    const book = new WalRestartBook({restartBytes, pageSize})
    const mark = () => book.checkpointBegins()
    expect(book.checkpointFound({log: 100, checkpointed: 0}, mark())).toBe(false)
    expect(book.checkpointFound({log: 100, checkpointed: 60}, mark())).toBe(true)
    expect(book.checkpointFound({log: 100, checkpointed: 60}, mark())).toBe(false)
    expect(book.checkpointFound({log: 100, checkpointed: 100}, mark())).toBe(true)
    // The WAL restarted and grew to the same count of copied frames: a new WAL, new frames copied.
    expect(book.checkpointFound({log: 120, checkpointed: 100}, mark())).toBe(true)
  })

  it('given a wait that gave up, when the copy goes on, then the next wait is due only after another restartBytes', () => {
    const book = new WalRestartBook({restartBytes, pageSize})
    book.committed(70 * MiB)
    expect(book.mustWait()).toBe(true)
    book.gaveUp()
    expect(book.mustWait()).toBe(false)
    book.committed(restartBytes - MiB)
    expect(book.mustWait()).toBe(false)
    book.committed(MiB)
    expect(book.mustWait()).toBe(true)
  })

  it('given a wait that restarted the WAL, when the copy goes on, then the estimate is 0 and the next wait is due at restartBytes', () => {
    const book = new WalRestartBook({restartBytes, pageSize})
    book.committed(70 * MiB)
    book.gaveUp()
    book.committed(70 * MiB)
    book.restarted()
    expect(book.estimate()).toBe(0)
    book.committed(restartBytes)
    expect(book.mustWait()).toBe(true)
  })

  it('given a wait that gave up, when the WAL then restarted by itself (a checkpoint finds it under restartBytes), then waits are due at restartBytes again', () => {
    const book = new WalRestartBook({restartBytes, pageSize})
    book.committed(70 * MiB)
    book.gaveUp() // next due at 134 MiB
    const mark = book.checkpointBegins()
    book.checkpointFound({log: frames(2 * MiB), checkpointed: frames(2 * MiB)}, mark)
    expect(book.mustWait()).toBe(false)
    book.committed(restartBytes - 2 * MiB)
    expect(book.mustWait()).toBe(true)
  })

  it('given restartBytes Infinity, when any amount is committed or a wait gave up, then no wait is ever due', () => {
    const book = new WalRestartBook({restartBytes: Infinity, pageSize})
    book.committed(1 << 40)
    expect(book.mustWait()).toBe(false)
    book.gaveUp()
    expect(book.mustWait()).toBe(false)
  })
})
