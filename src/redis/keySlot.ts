import {SLOT_COUNT} from './slotMap.js'

/** CRC16 (XMODEM: poly 0x1021, init 0) lookup table, the checksum Redis Cluster hashes keys with. */
const TABLE = (() => {
  const t = new Uint16Array(256)
  for (let i = 0; i < 256; i++) {
    let c = i << 8
    for (let b = 0; b < 8; b++) c = c & 0x8000 ? ((c << 1) ^ 0x1021) & 0xffff : (c << 1) & 0xffff
    t[i] = c
  }
  return t
})()

function crc16(bytes: Uint8Array): number {
  let crc = 0
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ (TABLE[((crc >> 8) ^ byte) & 0xff] ?? 0)
  return crc
}

/**
 * keySlot (pure) is the Redis Cluster hash slot of `key`, as `CLUSTER KEYSLOT` computes it:
 * CRC16 of the key's UTF-8 bytes mod 16384, where a key holding `{tag}` with a non-empty tag
 * hashes only the tag (the first `{` and the first `}` after it). Computing it locally spares
 * a round trip per key when a caller looks for keys in given slots.
 */
export function keySlot(key: string): number {
  const bytes = new TextEncoder().encode(key)
  const open = bytes.indexOf(0x7b)
  if (open >= 0) {
    const close = bytes.indexOf(0x7d, open + 1)
    if (close > open + 1) return crc16(bytes.subarray(open + 1, close)) % SLOT_COUNT
  }
  return crc16(bytes) % SLOT_COUNT
}

/**
 * tagForSlot (pure) returns a short hash tag (`prefix` + a number) whose keys `{tag}:...` all
 * land in `slot`, by trying numbers in order from `start`; throws RangeError past `limit` tries
 * (every slot is reached within about 16384 * 10 numbers in practice).
 */
export function tagForSlot(slot: number, prefix = 't', start = 0, limit = 1_000_000): string {
  if (!Number.isInteger(slot) || slot < 0 || slot >= SLOT_COUNT) throw new RangeError(`slot must be an integer in 0..${SLOT_COUNT - 1}, got ${slot}`)
  for (let i = start; i < start + limit; i++) if (keySlot(`${prefix}${i}`) === slot) return `${prefix}${i}`
  throw new RangeError(`no tag ${prefix}N for slot ${slot} within ${limit} tries`)
}
