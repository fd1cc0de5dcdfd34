// A child for rangeStoreWrites.kill.test.ts: on a data dir split over the main file and range
// stores, commits a copy frame of `first` (its resume state 'one' lands in the main file), then
// a frame of `second` whose last key lies in a range store (the state moves there), through a
// real StorageEngine from dist/ (writer core on this thread, so the commit hook below reaches
// it); the process SIGKILLs itself right after the second frame's `afterCommits`-th commit.
import {formatHlc} from '../../../dist/src/model/hlc.js'
import {killAfterCommits, openSplitEngine} from './killAfterCommits.mjs'

const [dir, firstJson, secondJson, afterCommitsArg] = process.argv.slice(2)
const kill = killAfterCommits(Number(afterCommitsArg))
const engine = openSplitEngine(dir)
const frame = (keys, wall) => keys.map((k) => ({key: Buffer.from(k), version: formatHlc({wall, counter: 0, writer: 'w'}), value: Buffer.from('x')}))
await engine.applyCopyBatch(frame(JSON.parse(firstJson), 1_000_000), 'copy/1', 'one', undefined, false)
console.log('first')
kill.arm(true)
await engine.applyCopyBatch(frame(JSON.parse(secondJson), 1_000_001), 'copy/1', 'two', undefined, false)
console.log('second')
