// A separate process that holds an etcd lock or a lease-attached key, using the built code
// in dist/ (the same code the CLI runs). Usage:
//   node holder.mjs lock  <endpoint> <cluster> <key> <ttlSeconds>
//   node holder.mjs lease <endpoint> <cluster> <key> <ttlSeconds>
// Prints one JSON line when it holds it ({"ready":true,...}) or fails ({"error":...}), then
// keeps the lease alive until killed. It exits by itself when its parent goes away (stdin
// closes), so a crashed test run leaves no holder behind.
import {resolveConnection} from '../../../dist/src/config/connectionConfig.js'
import {EtcdStore} from '../../../dist/src/etcd/etcdStore.js'
import {grantLease} from '../../../dist/src/etcd/leaseHandle.js'
import {acquireLock} from '../../../dist/src/etcd/leaseLock.js'

const [mode, endpoint, cluster, key, ttl] = process.argv.slice(2)
const report = (obj) => process.stdout.write(`${JSON.stringify({pid: process.pid, ...obj})}\n`)

process.stdin.on('end', () => process.exit(0))
process.stdin.on('error', () => process.exit(0))
process.stdin.resume()

try {
  const store = new EtcdStore(resolveConnection({flags: {endpoints: endpoint, cluster}, env: {}}))
  if (mode === 'lock') {
    const lock = await acquireLock(store, key, 'test-child', Number(ttl))
    report({ready: true, createRevision: String(lock.createRevision), lease: lock.lease.id})
  } else if (mode === 'lease') {
    const lease = await grantLease(store, Number(ttl))
    await store.put(key, JSON.stringify({pid: process.pid}), lease.id)
    report({ready: true, lease: lease.id})
  } else {
    throw new Error(`unknown mode ${mode}`)
  }
  setInterval(() => {}, 1 << 30)
} catch (err) {
  report({error: String(err?.message ?? err), code: err?.code})
  process.exit(1)
}
