/**
 * firstDuplicateKey returns where a JSON text repeats a key within one object (the object's
 * path and the key), or undefined when no object does. `text` must already be valid JSON
 * (JSON.parse accepted it): this only walks its structure.
 *
 * Why: JSON.parse keeps a repeated key's last value, other parsers (and a person reading the
 * file in a review) may take the first. A signed plan could then carry `"to": "n3", "to": "n1"`:
 * its hash and signature cover the `n1` that runs, while a review of the file, or a tool that
 * keeps the first value, sees `n3`. shardctl never writes a repeated key, so a file with one was
 * edited by hand and is refused. Keys are compared decoded (`"to"` and `"\u0074o"` are one key).
 */
export function firstDuplicateKey(text: string): {path: string; key: string} | undefined {
  interface Frame {
    keys: Set<string> | null // null: an array
    path: string
    index: number
    pendingKey: string | null
  }
  const stack: Frame[] = []
  let i = 0
  const childPath = (f: Frame | undefined): string => (f === undefined ? '' : f.keys === null ? `${f.path}[${f.index}]` : f.path === '' ? (f.pendingKey ?? '') : `${f.path}.${f.pendingKey ?? ''}`)
  while (i < text.length) {
    const c = text[i]!
    if (c === '"') {
      // A string: find its end (a quote not escaped), decode it if it is a key.
      let j = i + 1
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1
      const top = stack[stack.length - 1]
      if (top?.keys && top.pendingKey === null) {
        const key = JSON.parse(text.slice(i, j + 1)) as string
        if (top.keys.has(key)) return {path: top.path === '' ? '(top level)' : top.path, key}
        top.keys.add(key)
        top.pendingKey = key
      }
      i = j + 1
      continue
    }
    if (c === '{' || c === '[') {
      const parent = stack[stack.length - 1]
      stack.push({keys: c === '{' ? new Set() : null, path: childPath(parent), index: 0, pendingKey: null})
    } else if (c === '}' || c === ']') {
      stack.pop()
    } else if (c === ',') {
      const top = stack[stack.length - 1]
      if (top) {
        top.index++
        top.pendingKey = null
      }
    }
    i++
  }
  return undefined
}
