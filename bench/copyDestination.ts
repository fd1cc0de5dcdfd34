/**
 * bench/copyDestination.ts — what a copy costs the destination per byte, without the network
 * (`npm run bench:copy-destination`, issue 12).
 *
 * One process: a real StorageEngine (writer and copy reader threads, synchronous FULL, in a
 * temporary dir) and a real CopyPuller fed the wire bytes of copy frames in 64 KiB chunks, as
 * a socket delivers them. The frames (64 KiB values, COPY_DEST_MIB in all, default 256) are
 * encoded before the clock starts, at whatever frame size the puller asks for, cut the way a
 * source cuts its pages. What is left is the destination's own work: frame parsing, decoding,
 * slicing and handing batches to the writer thread on the main thread; the LWW merge, digest
 * hashing and SQLite commits in the writer thread; background checkpoints in the copy reader
 * thread; and the garbage collection all of that causes.
 *
 * It prints MiB copied per CPU-second of the whole process, and the CPU seconds of each
 * thread (main first, then the others largest first: the writer, V8's helper threads, the
 * copy reader). CPU time hardly depends on how busy the machine is, so runs on a loaded
 * machine compare; the wall time is printed beside it. bench:move's destination figure also
 * pays for HTTP (undici), the client load beside the copy and the bench's own polling.
 */
import {mkdtempSync, readdirSync, readFileSync, rmSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {jsonLog} from '../src/log/jsonLog.js'
import {formatHlc} from '../src/model/hlc.js'
import {HASH_SPACE} from '../src/model/hash.js'
import {encodeFrame} from '../src/node/copyFrames.js'
import {CopyPuller} from '../src/node/copyPuller.js'
import {type NodeRecord} from '../src/node/protocol.js'
import {encodeRecords} from '../src/node/recordCodec.js'
import {StorageEngine} from '../src/node/storageEngine.js'
import {TokenBucket} from '../src/throttle/tokenBucket.js'

const MiB = 1024 * 1024
const TOTAL_MIB = Number(process.env.COPY_DEST_MIB ?? 256)
const VALUE_BYTES = 64 * 1024
/** CHUNK_BYTES is how much of the stream each read hands the puller (a socket's usual read). */
const CHUNK_BYTES = 64 * 1024
/** EXECUTOR_FRAME_BYTES is the frame size the executor asks for unthrottled (DEFAULT_EXECUTOR_OPTIONS.chunkBytes). */
const EXECUTOR_FRAME_BYTES = 4 * MiB

/** records makes `n` records of 64 KiB values, each value different (so no page compresses or dedups). */
function records(n: number): NodeRecord[] {
  const version = formatHlc({wall: Date.now(), counter: 0, writer: 'bench'})
  return Array.from({length: n}, (_, i) => {
    const value = Buffer.allocUnsafe(VALUE_BYTES)
    for (let j = 0; j < VALUE_BYTES; j += 4) value.writeUInt32LE((i * 2654435761 + j) >>> 0, j)
    return {key: Buffer.from(`copy-dest-${String(i).padStart(8, '0')}`), version, value}
  })
}

/** wireAt encodes `all` as a copy stream of frames of about `frameBytes`, cut as scanPage cuts a source's pages. */
function wireAt(all: readonly NodeRecord[], frameBytes: number): Buffer {
  const frames: Buffer[] = []
  let i = 0
  while (i < all.length) {
    const page: NodeRecord[] = []
    let bytes = 0
    while (i < all.length && !(bytes >= frameBytes && page.length > 0)) {
      const r = all[i++]!
      page.push(r)
      bytes += r.key.length + r.version.length + (r.value?.length ?? 0) + 8
    }
    const last = i === all.length
    frames.push(encodeFrame(encodeRecords(page), last ? undefined : `cursor-${i}`, last))
  }
  return Buffer.concat(frames)
}

/** threadCpu returns each thread's CPU seconds so far (user + system, from /proc; empty where there is none). */
function threadCpu(): Map<string, number> {
  const out = new Map<string, number>()
  try {
    for (const tid of readdirSync('/proc/self/task')) {
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8')
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      out.set(tid, (Number(fields[11]) + Number(fields[12])) / 100)
    }
  } catch {
    // Not Linux: only the whole process's figure is printed.
  }
  return out
}

async function main(): Promise<void> {
  const all = records(Math.ceil((TOTAL_MIB * MiB) / VALUE_BYTES))
  const dir = mkdtempSync(join(tmpdir(), 'shardctl-copy-dest-'))
  // Interrupted, the run still removes its database (the writer thread dies with the process).
  const interrupted = (): void => {
    rmSync(dir, {recursive: true, force: true})
    process.exit(130)
  }
  process.once('SIGINT', interrupted).once('SIGTERM', interrupted)
  // The copy's waits for the WAL to restart (StorageEngine.walRoom): time in which its commits stop while checkpoints catch up.
  const walWaits = {count: 0, seconds: 0}
  const engine = StorageEngine.open({dir, tombstoneGraceMs: 86_400_000, onWalWait: (_outcome, seconds) => {
    walWaits.count++
    walWaits.seconds += seconds
  }})
  try {
    let wire: Buffer = Buffer.alloc(0)
    let asked = 0
    const puller = new CopyPuller({
      engine,
      async *openStream(_source, shard, _epoch, _cursor, frameBytes) {
        asked = frameBytes
        // Shard 2 is the probe that learns the frame size the puller asks for: an empty stream.
        if (shard === 2) return
        for (let at = 0; at < wire.length; at += CHUNK_BYTES) yield Buffer.from(wire.subarray(at, at + CHUNK_BYTES))
      },
      fence: async () => ({lo: 0, hi: HASH_SPACE}),
      receive: new TokenBucket(null, Date.now),
      now: Date.now,
      sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
      log: jsonLog({bench: 'copy-destination'}, () => {}),
    })
    const spec = {moveId: 'bench', epoch: 1, sources: [{node: 'source', address: '127.0.0.1:1'}], rate: null, frameBytes: EXECUTOR_FRAME_BYTES}
    // The stream is encoded before the clock starts, at the frame size the puller asks for (its probe copy fails at once: the stream ends early).
    puller.pull({...spec, shard: 2})
    await puller.settled(2, 60_000)
    wire = wireAt(all, asked)
    all.length = 0
    walWaits.count = 0
    walWaits.seconds = 0
    const threads0 = threadCpu()
    const cpu0 = process.cpuUsage()
    const started = performance.now()
    puller.pull({...spec, shard: 1})
    const status = await puller.settled(1, 30 * 60_000)
    const seconds = (performance.now() - started) / 1000
    const cpu = process.cpuUsage(cpu0)
    const threads1 = threadCpu()
    if (status.state !== 'done') throw new Error(`the copy ended ${status.state}: ${status.error ?? ''}`)
    const mib = status.bytes / MiB
    const cpuSeconds = (cpu.user + cpu.system) / 1e6
    console.log(`copied ${mib.toFixed(0)} MiB (${status.keys} records of 64 KiB, frames of ${asked} bytes) in ${seconds.toFixed(1)} s: ${(mib / seconds).toFixed(1)} MiB/s wall`)
    console.log(`destination CPU: ${cpuSeconds.toFixed(2)} s (user ${(cpu.user / 1e6).toFixed(2)}, system ${(cpu.system / 1e6).toFixed(2)}) = ${(mib / cpuSeconds).toFixed(1)} MiB per CPU-s`)
    const main = String(process.pid)
    const spent = [...threads1].map(([tid, s]) => [tid, s - (threads0.get(tid) ?? 0)] as const).filter(([, s]) => s >= 0.01)
    const others = spent.filter(([tid]) => tid !== main).sort((a, b) => b[1] - a[1])
    if (spent.length > 0) console.log(`CPU s by thread: main ${(spent.find(([tid]) => tid === main)?.[1] ?? 0).toFixed(2)}; others ${others.map(([, s]) => s.toFixed(2)).join(', ')}`)
    console.log(`waits for the WAL to restart: ${walWaits.count}, ${walWaits.seconds.toFixed(2)} s of the copy's ${seconds.toFixed(1)} s`)
    console.log(`1-minute load average ${readFileSync('/proc/loadavg', 'utf8').split(' ')[0]}`)
  } finally {
    await engine.close()
    rmSync(dir, {recursive: true, force: true})
  }
}

await main()
