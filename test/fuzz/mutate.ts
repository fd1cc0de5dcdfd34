import fc from 'fast-check'

/** JsonEdit is one structural mutation: at the `pick`-th node (in walk order), set, delete or add a field/element. */
export interface JsonEdit {
  pick: number
  op: 'set' | 'delete' | 'add' | 'swapType'
  value: unknown
  key: string
}

const nasty = fc.oneof(
  fc.constantFrom(null, true, false, 0, -1, 1e308, -1e-308, 2 ** 53 + 1, '', ' ', 'NaN', '__proto__', 'constructor', '\u0000', '\ud800', 'a'.repeat(10_000), [], {}, [[[[[[]]]]]], {__proto__: {polluted: 1}}),
  fc.jsonValue({maxDepth: 3}),
)

/** jsonEdits generates 1-4 structural edits. */
export function jsonEdits(): fc.Arbitrary<JsonEdit[]> {
  return fc.array(fc.record({pick: fc.nat(), op: fc.constantFrom('set', 'delete', 'add', 'swapType'), value: nasty, key: fc.oneof(fc.string({maxLength: 12}), fc.constantFrom('hash', 'signature', 'epoch', 'from', 'to', 'shards', '__proto__'))}) as fc.Arbitrary<JsonEdit>, {minLength: 1, maxLength: 4})
}

/** mutateJson applies `edits` to a deep copy of `doc` (pure). */
export function mutateJson(doc: unknown, edits: readonly JsonEdit[]): unknown {
  let root = structuredClone(doc)
  for (const e of edits) {
    const nodes: {parent: Record<string, unknown> | unknown[] | null; key: string | number}[] = [{parent: null, key: ''}]
    const walk = (v: unknown) => {
      if (v && typeof v === 'object') {
        for (const [k, child] of Object.entries(v as object)) {
          nodes.push({parent: v as Record<string, unknown>, key: Array.isArray(v) ? Number(k) : k})
          walk(child)
        }
      }
    }
    walk(root)
    const at = nodes[e.pick % nodes.length]!
    const get = () => (at.parent === null ? root : (at.parent as Record<string | number, unknown>)[at.key])
    const set = (v: unknown) => {
      if (at.parent === null) root = v
      else Object.defineProperty(at.parent, at.key, {value: v, enumerable: true, writable: true, configurable: true})
    }
    const cur = get()
    if (e.op === 'set') set(structuredClone(e.value))
    else if (e.op === 'delete' && at.parent !== null) {
      if (Array.isArray(at.parent)) at.parent.splice(at.key as number, 1)
      else delete (at.parent as Record<string, unknown>)[at.key as string]
    } else if (e.op === 'add' && cur && typeof cur === 'object') {
      if (Array.isArray(cur)) cur.push(structuredClone(e.value))
      else Object.defineProperty(cur, e.key, {value: structuredClone(e.value), enumerable: true, writable: true, configurable: true})
    } else if (e.op === 'swapType') set(typeof cur === 'number' ? String(cur) : typeof cur === 'string' ? Number(cur.length) : Array.isArray(cur) ? {...cur} : cur && typeof cur === 'object' ? Object.values(cur) : [cur])
  }
  return root
}

/** TextEdit is one byte-level mutation of a text: truncate, insert, delete or flip a range. */
export interface TextEdit {
  at: number
  op: 'truncate' | 'insert' | 'delete' | 'dup'
  text: string
  len: number
}

/** textEdits generates 1-3 text edits. */
export function textEdits(): fc.Arbitrary<TextEdit[]> {
  return fc.array(fc.record({at: fc.nat(), op: fc.constantFrom('truncate', 'insert', 'delete', 'dup'), text: fc.oneof(fc.string({maxLength: 8}), fc.constantFrom('{', '}', '[', ']', '"', ',', ':', '\\', 'NaN', 'Infinity', '\u0000', '\n')), len: fc.integer({min: 1, max: 64})}) as fc.Arbitrary<TextEdit>, {minLength: 1, maxLength: 3})
}

/** mutateText applies `edits` to `text` (pure). */
export function mutateText(text: string, edits: readonly TextEdit[]): string {
  let s = text
  for (const e of edits) {
    const at = s.length === 0 ? 0 : e.at % s.length
    if (e.op === 'truncate') s = s.slice(0, at)
    else if (e.op === 'insert') s = s.slice(0, at) + e.text + s.slice(at)
    else if (e.op === 'delete') s = s.slice(0, at) + s.slice(at + e.len)
    else s = s.slice(0, at) + s.slice(at, at + e.len).repeat(2) + s.slice(at + e.len)
  }
  return s
}
