// A child for test/node/dataDirLock.test.ts: takes a data dir's lock with the built code in
// dist/ (the same code `node serve` runs) and prints one JSON line: {"held":true} once it holds
// it, or {"refused":true,"message":...} (then exits 8) when another process does. A holder keeps
// the lock until killed or until its parent goes away (stdin closes), so a crashed test run
// leaves no holder behind. Usage: node dirLockHolder.mjs <dir>
import {DataDirLock, DataDirLockHeld} from '../../../dist/src/node/dataDirLock.js'

const [dir] = process.argv.slice(2)
const report = (obj) => process.stdout.write(`${JSON.stringify({pid: process.pid, ...obj})}\n`)

try {
  DataDirLock.acquire(dir)
  report({held: true})
  process.stdin.on('end', () => process.exit(0))
  process.stdin.on('error', () => process.exit(0))
  process.stdin.resume()
} catch (err) {
  if (!(err instanceof DataDirLockHeld)) throw err
  report({refused: true, message: err.message, holder: err.holder ?? null})
  process.exit(8)
}
