// A child for rangeStoreWrites.kill.test.ts: on a data dir split over the main file and range
// stores, commits groups of client writes that span every store through a real StorageEngine
// from dist/ (writer core on this thread, so the commit hook reaches it), printing each
// group once acknowledged; group `killAt` SIGKILLs the process right after its `afterCommits`-th
// per-store commit, before the group is acknowledged.
import {formatHlc} from '../../../dist/src/model/hlc.js'
import {killAfterCommits, openSplitEngine} from './killAfterCommits.mjs'

const [dir, keysJson, killAtArg, afterCommitsArg] = process.argv.slice(2)
/** groups[g] are group g's keys, one per store. */
const groups = JSON.parse(keysJson)
const killAt = Number(killAtArg)
const kill = killAfterCommits(Number(afterCommitsArg))
const engine = openSplitEngine(dir)
for (let g = 0; g < groups.length; g++) {
  kill.arm(g === killAt)
  const version = formatHlc({wall: 1_000_000 + g, counter: 0, writer: 'w'})
  await engine.apply(groups[g].map((k) => ({key: Buffer.from(k), version, value: Buffer.from(`g${g}`)})), {clientWrite: true})
  console.log(`acked ${g}`)
}
console.log('done')
