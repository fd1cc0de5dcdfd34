import Database from 'better-sqlite3'
import fs from 'node:fs'
import crypto from 'node:crypto'
const pageBytes = Number(process.argv[2]) << 10, ckpt = process.argv[3] === 'ckpt'
const dir = fs.mkdtempSync('/tmp/scanb-')
let db = new Database(dir + '/x.sqlite')
db.pragma(`page_size = 16384`); db.pragma('journal_mode = WAL'); db.pragma('synchronous = NORMAL'); db.pragma('cache_size = -65536'); db.pragma('wal_autocheckpoint = 0')
db.exec(`CREATE TABLE kv (id INTEGER PRIMARY KEY, h INTEGER NOT NULL, k BLOB NOT NULL, ver TEXT NOT NULL, v BLOB, wall INTEGER); CREATE UNIQUE INDEX kv_hash_key ON kv (h, k);`)
const up = db.prepare('INSERT INTO kv (h, k, ver, v, wall) VALUES (?, ?, ?, ?, ?)')
const val = crypto.randomBytes(65536)
for (let t = 0; t < 128; t++) db.transaction(() => { for (let i = 0; i < 128; i++) { const n = t * 128 + i; up.run((n * 2654435761) % 4294967296, Buffer.from('key' + n), '000000000000001', val, 0) } })()
if (ckpt) db.pragma('wal_checkpoint(TRUNCATE)')
const r = db; db = new Database(dir + '/x.sqlite'); db.pragma(`mmap_size = 1073741824`); db.pragma('cache_size = -65536')
const from = db.prepare('SELECT h, k, ver, v FROM kv WHERE h >= ? AND h < ? ORDER BY h, k').raw(true)
const after = db.prepare('SELECT h, k, ver, v FROM kv WHERE (h, k) > (?, ?) AND h < ? ORDER BY h, k').raw(true)
for (const mode of ['pass1', 'pass2']) {
  const t0 = performance.now(), c0 = process.cpuUsage(); let bytes = 0, cur
  for (;;) {
    const it = cur ? after.iterate(cur[0], cur[1], 2 ** 32) : from.iterate(0, 2 ** 32); let b = 0, more = false, last
    for (const r of it) { if (b >= pageBytes) { more = true; break } b += r[3].length; last = r }
    if (more) it.return(); bytes += b; if (!more) break; cur = [last[0], last[1]]
  }
  const s = (performance.now() - t0) / 1000, c = process.cpuUsage(c0)
  console.log(pageBytes >> 10, 'KiB pages', ckpt ? 'checkpointed' : 'all in WAL', mode, `${(bytes / 2 ** 20 / s).toFixed(0)} MiB/s wall, ${(bytes / 2 ** 20 / ((c.user + c.system) / 1e6)).toFixed(0)} MiB/CPU-s`)
}
fs.rmSync(dir, {recursive: true})
