#!/usr/bin/env node
// long-functions lists the functions longer than a limit (default 60 lines) in the given
// files or directories, longest first: `node scripts/long-functions.js [--max N] [--json] src/executor …`.
// It parses with the TypeScript compiler API (no type check, so it is fast) and counts a
// function's lines from its first to its last line, signature and body included. A function
// nested in a longer one is listed on its own too. Exit 1 when one is over the limit, so CI
// can gate on it; 2 on bad arguments.
import {readdirSync, readFileSync, statSync} from 'node:fs'
import {join, relative} from 'node:path'
import ts from 'typescript'

/**
 * functionName names a function-like node: its declared name, the variable or property it
 * is assigned to, `Class.method`, or `<anonymous>`.
 */
function functionName(node) {
  if (node.name && ts.isIdentifier(node.name)) {
    const cls = node.parent && ts.isClassLike(node.parent) && node.parent.name ? `${node.parent.name.text}.` : ''
    return `${cls}${node.name.text}`
  }
  if (ts.isConstructorDeclaration(node)) return `${node.parent.name?.text ?? '<class>'}.constructor`
  const p = node.parent
  if (p && ts.isVariableDeclaration(p) && ts.isIdentifier(p.name)) return p.name.text
  if (p && ts.isPropertyAssignment(p) && ts.isIdentifier(p.name)) return p.name.text
  if (p && ts.isPropertyDeclaration(p) && ts.isIdentifier(p.name)) return `${p.parent.name?.text ?? '<class>'}.${p.name.text}`
  return '<anonymous>'
}

/** longFunctions returns the functions of one source text longer than `max` lines. */
export function longFunctions(file, text, max) {
  const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true, file.endsWith('x') ? ts.ScriptKind.TSX : ts.ScriptKind.TS)
  const found = []
  const visit = (node) => {
    if (ts.isFunctionLike(node) && 'body' in node && node.body) {
      const start = source.getLineAndCharacterOfPosition(node.getStart(source)).line
      const end = source.getLineAndCharacterOfPosition(node.getEnd()).line
      const lines = end - start + 1
      if (lines > max) found.push({file, line: start + 1, name: functionName(node), lines})
    }
    ts.forEachChild(node, visit)
  }
  visit(source)
  return found
}

function filesUnder(path) {
  if (statSync(path).isFile()) return [path]
  return readdirSync(path, {withFileTypes: true}).flatMap((e) => (e.isDirectory() ? filesUnder(join(path, e.name)) : /\.tsx?$/.test(e.name) && !e.name.endsWith('.d.ts') ? [join(path, e.name)] : []))
}

function main(argv) {
  let max = 60
  let json = false
  const paths = []
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === '--max') {
      max = Number(argv[++i])
      if (!Number.isInteger(max) || max < 1) return fail('--max takes a whole number of lines, e.g. --max 60')
    } else if (argv[i] === '--json') json = true
    else paths.push(argv[i])
  }
  if (paths.length === 0) return fail('name files or directories to scan, e.g. node scripts/long-functions.js src/executor')
  let found = []
  for (const p of paths) {
    let files
    try {
      files = filesUnder(p)
    } catch {
      return fail(`${p}: no such file or directory`)
    }
    for (const f of files) found.push(...longFunctions(relative(process.cwd(), f), readFileSync(f, 'utf8'), max))
  }
  found = found.sort((a, b) => b.lines - a.lines)
  if (json) process.stdout.write(`${JSON.stringify(found)}\n`)
  else for (const f of found) process.stdout.write(`${String(f.lines).padStart(4)}  ${f.file}:${f.line}  ${f.name}\n`)
  return found.length === 0 ? 0 : 1
}

function fail(message) {
  process.stderr.write(`long-functions: ${message}\n`)
  return 2
}

if (import.meta.url === `file://${process.argv[1]}`) process.exitCode = main(process.argv.slice(2))
