/**
 * bench/bareCopy.ts — the fastest copy any design built from a socket and a file reaches on
 * this machine: a file (in the page cache, as a source's database is) read in 1 MiB reads in
 * one process, sent over one loopback TCP connection to a second Node process that writes
 * every byte once to a new file and fdatasyncs it as it goes (one flush in flight at a time,
 * every {@link FLUSH_BYTES}, as a destination's WAL flushes) and once at the end.
 *
 * Why it is in bench:move: raw TCP and the disk's write rate are each measured alone, and the
 * issue's target (half the smaller of the two) compares the copy with them. A real copy does
 * both at once, plus the read, on the same cores; this is that floor of work with nothing
 * else (no records, no index, no hashing, no client load), so the table can say how far the
 * copy is from what any copy could do here, not only from each part alone.
 *
 * Beside the rate it gives each process's CPU time (user + system, all threads) over the
 * copy: the CPU a copy of these bytes costs with no work of its own, which with the
 * machine's core count bounds the rate of any copy that costs more per byte.
 *
 * Run as a script (`node dist/bench/bareCopy.js receive <file>`) it is the receiving process:
 * it prints `port <n>`, takes one connection, and prints `done <bytes>` once every byte is
 * written and fdatasync'd.
 */
import {spawn} from 'node:child_process'
import {closeSync, fdatasync, fdatasyncSync, openSync, readSync, rmSync, writeSync} from 'node:fs'
import {connect, createServer, type Socket} from 'node:net'
import {join} from 'node:path'
import {fileURLToPath} from 'node:url'

const MiB = 1024 * 1024
/** FLUSH_BYTES: the receiver starts an fdatasync after about this many bytes written (one at a time). */
const FLUSH_BYTES = 4 * MiB
/** READ_BYTES: the sender's read (and socket write) size. */
const READ_BYTES = MiB

/** writeSourceFile writes `total` bytes (a pattern that does not compress) to `file` and fdatasyncs it. */
function writeSourceFile(file: string, total: number): void {
  const chunk = Buffer.alloc(READ_BYTES)
  for (let i = 0; i < chunk.length; i += 4) chunk.writeUInt32LE((i * 2654435761) >>> 0, i)
  const fd = openSync(file, 'w')
  try {
    for (let w = 0; w < total; w += chunk.length) writeSync(fd, chunk)
    fdatasyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

/** BareCopy is a bare copy's rate (bytes/s) and the CPU seconds each process spent on it (the sender from its first read, the receiver from the connection, both to the receiver's last fdatasync). */
export interface BareCopy {
  bytesPerSecond: number
  senderCpuSeconds: number
  receiverCpuSeconds: number
}

/** cpuSecondsSince is this process's CPU time (user + system, every thread) since `from` (a process.cpuUsage()). */
function cpuSecondsSince(from: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(from)
  return (d.user + d.system) / 1e6
}

/**
 * bareCopyRate copies a `total`-byte file made in `dir` to another file in `dir` through a
 * second Node process over loopback TCP and returns its rate in bytes/s, timed from the connection to
 * the receiver's `done` (every byte fdatasync'd). The source file is written (and left in
 * the page cache) first, outside the timing. Both files are removed; the receiver is
 * killed if anything fails. Rejects after `timeoutMs`. `receiver` is the built script the
 * receiving process runs (this module; tests, which run the TypeScript source, pass dist's).
 */
export async function bareCopyRate(dir: string, total: number, timeoutMs = 120_000, receiver = fileURLToPath(import.meta.url)): Promise<BareCopy> {
  const from = join(dir, 'bare-from.bin')
  const to = join(dir, 'bare-to.bin')
  writeSourceFile(from, total)
  const child = spawn(process.execPath, [receiver, 'receive', to], {stdio: ['ignore', 'pipe', 'inherit']})
  const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs)
  try {
    const line = lineReader(child, 'bare copy receiver')
    const port = Number((await line(/port (\d+)\n/))[1])
    const sock = connect(port, '127.0.0.1')
    await new Promise((r) => sock.once('connect', r))
    const start = performance.now()
    const cpu0 = process.cpuUsage()
    await sendFile(from, sock, total, 0)
    sock.end()
    const done = await line(/done (\d+) cpu (\d+)\n/)
    const secs = (performance.now() - start) / 1000
    const senderCpuSeconds = cpuSecondsSince(cpu0)
    sock.destroy()
    if (Number(done[1]) !== total) throw new Error(`bare copy: the receiver wrote ${done[1]} bytes of ${total}`)
    return {bytesPerSecond: total / secs, senderCpuSeconds, receiverCpuSeconds: Number(done[2]) / 1e6}
  } finally {
    clearTimeout(timer)
    child.kill('SIGKILL')
    rmSync(from, {force: true})
    rmSync(to, {force: true})
  }
}

/**
 * pacedBareCopy is the same copy with the sender in a third process too, paced to at most
 * `rateBytesPerSec` (null: as fast as it goes): a copy that costs the machine only a socket
 * and a file, run beside a client load in the calling process without taking that process's
 * event loop (the in-process sender's synchronous reads would delay the load's own timing).
 * Returns the rate reached. Kills both children on failure or after `timeoutMs`.
 */
export async function pacedBareCopy(dir: string, total: number, rateBytesPerSec: number | null, timeoutMs = 180_000, script = fileURLToPath(import.meta.url)): Promise<number> {
  const from = join(dir, 'paced-from.bin')
  const to = join(dir, 'paced-to.bin')
  writeSourceFile(from, total)
  const receiver = spawn(process.execPath, [script, 'receive', to], {stdio: ['ignore', 'pipe', 'inherit']})
  let sender: ReturnType<typeof spawn> | undefined
  const timer = setTimeout(() => {
    receiver.kill('SIGKILL')
    sender?.kill('SIGKILL')
  }, timeoutMs)
  try {
    const fromReceiver = lineReader(receiver, 'bare copy receiver')
    const port = Number((await fromReceiver(/port (\d+)\n/))[1])
    const start = performance.now()
    sender = spawn(process.execPath, [script, 'send', from, String(port), String(total), String(rateBytesPerSec ?? 0)], {stdio: ['ignore', 'pipe', 'inherit']})
    const fromSender = lineReader(sender, 'bare copy sender')
    await fromSender(/sent (\d+)\n/)
    const done = await fromReceiver(/done (\d+) cpu (\d+)\n/)
    if (Number(done[1]) !== total) throw new Error(`bare copy: the receiver wrote ${done[1]} bytes of ${total}`)
    return total / ((performance.now() - start) / 1000)
  } finally {
    clearTimeout(timer)
    receiver.kill('SIGKILL')
    sender?.kill('SIGKILL')
    rmSync(from, {force: true})
    rmSync(to, {force: true})
  }
}

/** lineReader waits for lines of a child's stdout matching a pattern; it rejects once the child exits before printing one. */
function lineReader(child: ReturnType<typeof spawn>, what: string): (re: RegExp) => Promise<RegExpExecArray> {
  let out = ''
  let exitCode: number | null | undefined
  child.stdout!.on('data', (b: Buffer) => (out += b.toString()))
  child.once('exit', (code) => (exitCode = code))
  return (re) =>
    new Promise<RegExpExecArray>((resolve, reject) => {
      const look = () => {
        const m = re.exec(out)
        if (m) return finish(() => resolve(m))
        if (exitCode !== undefined) return finish(() => reject(new Error(`${what} exited (code ${exitCode}): ${out.trim()}`)))
      }
      const finish = (then: () => void) => {
        child.stdout!.off('data', look)
        child.off('exit', onExit)
        then()
      }
      const onExit = () => setImmediate(look)
      child.stdout!.on('data', look)
      child.once('exit', onExit)
      look()
    })
}

/** sendFile writes `total` bytes of `file` to `sock` in 1 MiB reads and writes, at most `rate` bytes/s since the start (0: unpaced). */
async function sendFile(file: string, sock: Socket, total: number, rate: number): Promise<void> {
  const start = performance.now()
  const fd = openSync(file, 'r')
  try {
    for (let sent = 0; sent < total; ) {
      const buf = Buffer.allocUnsafe(Math.min(READ_BYTES, total - sent))
      const n = readSync(fd, buf, 0, buf.length, sent)
      if (n <= 0) throw new Error(`bare copy: short read at ${sent} of ${total}`)
      sent += n
      if (!sock.write(n === buf.length ? buf : buf.subarray(0, n))) await new Promise((r) => sock.once('drain', r))
      const ahead = rate > 0 ? (sent * 1000) / rate - (performance.now() - start) : 0
      if (ahead > 0) await new Promise((r) => setTimeout(r, ahead))
    }
  } finally {
    closeSync(fd)
  }
}

/** send is the sending process of a paced copy: `total` bytes of `file` to 127.0.0.1:`port`, at most `rate` bytes/s (0: unpaced). */
async function send(file: string, port: number, total: number, rate: number): Promise<void> {
  const sock = connect(port, '127.0.0.1')
  await new Promise((r) => sock.once('connect', r))
  await sendFile(file, sock, total, rate)
  sock.end(() => process.stdout.write(`sent ${total}\n`))
}

/** receive is the receiving process: one connection, every byte written once to `file`, fdatasync'd as it goes and at the end. */
function receive(file: string): void {
  const fd = openSync(file, 'w')
  let written = 0
  let unflushed = 0
  let flushing: Promise<void> | undefined
  const flush = () =>
    new Promise<void>((resolve, reject) => fdatasync(fd, (err) => (err ? reject(err) : resolve()))).finally(() => {
      flushing = undefined
    })
  const server = createServer((sock) => {
    const cpu0 = process.cpuUsage()
    sock.on('data', (chunk: Buffer) => {
      writeSync(fd, chunk)
      written += chunk.length
      unflushed += chunk.length
      if (unflushed >= FLUSH_BYTES && !flushing) {
        unflushed = 0
        flushing = flush()
      }
    })
    sock.on('end', () => {
      void (async () => {
        await flushing
        await flush()
        closeSync(fd)
        const cpu = process.cpuUsage(cpu0)
        process.stdout.write(`done ${written} cpu ${cpu.user + cpu.system}\n`)
        sock.end()
        server.close()
      })()
    })
  })
  server.listen(0, '127.0.0.1', () => process.stdout.write(`port ${(server.address() as {port: number}).port}\n`))
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'receive' && process.argv[3]) receive(process.argv[3])
if (process.argv[1] === fileURLToPath(import.meta.url) && process.argv[2] === 'send' && process.argv[6] !== undefined) {
  send(process.argv[3]!, Number(process.argv[4]), Number(process.argv[5]), Number(process.argv[6])).catch((err: unknown) => {
    process.stderr.write(`bare copy sender: ${String(err)}\n`)
    process.exit(1)
  })
}
