import {describe, expect, it} from 'vitest'
import {renderError} from '../../src/cli/renderError.js'
import {ERROR_CODES, EXIT_CODES} from '../../src/errors/codes.js'
import {UserError} from '../../src/errors/errors.js'

describe('renderError', () => {
  it('renders a UserError as one line with its hint and the exit code of its code', () => {
    const r = renderError(new UserError('ETCD_UNREACHABLE', 'etcd at http://127.0.0.1:1 is unreachable', 'start one'), 'cluster:status')
    expect(r.line).toBe('Error: etcd at http://127.0.0.1:1 is unreachable — start one')
    expect(r.line).not.toContain('\n')
    expect(r.exitCode).toBe(3)
    expect(r.json.error).toEqual({code: 'ETCD_UNREACHABLE', message: 'etcd at http://127.0.0.1:1 is unreachable', hint: 'start one', exitCode: 3})
  })

  it('turns oclif parse errors into usage errors (exit 2) pointing at the command help', () => {
    const err = Object.assign(new Error('Nonexistent flag: --bogus\nSee more help with --help'), {oclif: {exit: 2}})
    const r = renderError(err, 'cluster:status')
    expect(r.exitCode).toBe(2)
    expect(r.line).toBe('Error: Nonexistent flag: --bogus — see `shardctl cluster status --help`')
  })

  it('folds a missing argument and a missing flag onto one readable line', () => {
    const arg = Object.assign(new Error('Missing 1 required arg:\nid  node id\nSee more help with --help'), {oclif: {exit: 2}})
    expect(renderError(arg, 'node:add').line).toBe('Error: Missing 1 required arg: id (node id) — see `shardctl node add --help`')
    const args = Object.assign(new Error('Missing 2 required args:\nkey    the key\nvalue  the value\nSee more help with --help'), {oclif: {exit: 2}})
    expect(renderError(args, 'kv:put').line).toBe('Error: Missing 2 required args: key (the key), value (the value) — see `shardctl kv put --help`')
    const flag = Object.assign(new Error('The following error occurred:\n  Missing required flag address\nSee more help with --help'), {oclif: {exit: 2}})
    expect(renderError(flag, 'node:add').line).toBe('Error: Missing required flag --address — see `shardctl node add --help`')
  })

  it('reports anything else as a bug with exit 1 and no stack', () => {
    const r = renderError(new TypeError('x is undefined\n    at foo (file.js:1:1)'), 'node:list')
    expect(r.exitCode).toBe(1)
    expect(r.line).not.toContain('at foo')
    expect(r.json.error.code).toBe('INTERNAL')
  })

  it('has distinct exit codes for distinct failure classes and keeps the documented ones', () => {
    expect(EXIT_CODES.BAD_INPUT).toBe(2)
    expect(EXIT_CODES.ETCD_UNREACHABLE).toBe(3)
    expect(EXIT_CODES.INTERNAL).toBe(1)
    for (const code of ERROR_CODES) expect(EXIT_CODES[code]).toBeGreaterThan(0)
  })
})
