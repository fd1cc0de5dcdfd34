/** prefixEnd is the first key after every key starting with `prefix` (etcd's range_end for a prefix); '\0' means "to the end of the keyspace". */
export function prefixEnd(prefix: string): string {
  const buf = Buffer.from(prefix)
  for (let i = buf.length - 1; i >= 0; i--) {
    if (buf[i]! < 0xff) {
      buf[i] = buf[i]! + 1
      return buf.subarray(0, i + 1).toString()
    }
  }
  return '\0'
}

/** inPrefix says whether `key` lies in the range `prefix` names (byte order, like etcd). An empty prefix holds every key. */
export function inPrefix(key: string, prefix: string): boolean {
  return key.startsWith(prefix)
}

/** compareKeys orders two keys by their UTF-8 bytes, the order etcd lists keys in. */
export function compareKeys(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b))
}
