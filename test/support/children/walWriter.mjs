// A child for walSyncKill.test.ts: writes copy slices without fsync and a client write after
// every 8th, through a real StorageEngine (writer and copy reader threads) from dist/, and
// prints each one once it is acknowledged, until the test SIGKILLs it (or it wrote `max`).
import {StorageEngine} from '../../../dist/src/node/storageEngine.js'
import {formatHlc} from '../../../dist/src/model/hlc.js'

const [dir, maxArg] = process.argv.slice(2)
const max = Number(maxArg ?? 200)
const engine = StorageEngine.open({dir, tombstoneGraceMs: 3_600_000, synchronous: 'FULL', onWalSync: (file) => console.log(`sync ${file}`)})
const value = Buffer.alloc(64 * 1024, 0x42)
const version = formatHlc({wall: Date.now(), counter: 0, writer: 'w'})
for (let b = 0; b < max; b++) {
  const records = Array.from({length: 16}, (_, i) => ({key: Buffer.from(`copy-${b}-${i}`), version, value}))
  await engine.applyCopyBatch(records, 'copy/kill', JSON.stringify({b}), undefined, false)
  console.log(`copy ${b}`)
  if (b % 8 === 7) {
    await engine.apply([{key: Buffer.from(`client-${b}`), version, value: Buffer.from(`v${b}`)}], {clientWrite: true})
    console.log(`client ${b}`)
  }
}
console.log('done')
await new Promise(() => {}) // wait for the kill
