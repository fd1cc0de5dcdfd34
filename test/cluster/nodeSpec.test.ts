import {describe, expect, it} from 'vitest'
import {parseNodeFields, parseNodeSpecs} from '../../src/cluster/nodeSpec.js'
import {renderError} from '../../src/cli/renderError.js'
import {isUserError} from '../../src/errors/errors.js'

describe('parseNodeSpecs', () => {
  it('reads id=host:port[@zone] lists', () => {
    expect(parseNodeSpecs('n1=127.0.0.1:7001@a, n2=localhost:7002')).toEqual([
      {id: 'n1', address: '127.0.0.1:7001', zone: 'a'},
      {id: 'n2', address: 'localhost:7002', zone: 'default'},
    ])
    expect(parseNodeSpecs('n3=[::1]:7003@z')[0]!.address).toBe('[::1]:7003')
  })

  it.each([
    ['n1', /is not a node spec/],
    ['n1=127.0.0.1', /address "127.0.0.1" is invalid/],
    ['n1=127.0.0.1:99999', /port must be 1-65535/],
    ['-x=127.0.0.1:1', /node id must be/],
    ['n1=127.0.0.1:1@bad zone', /zone "bad zone"/],
    ['n1=127.0.0.1:1,n1=127.0.0.1:2', /lists node "n1" twice/],
    ['n1=127.0.0.1:1,n2=127.0.0.1:1', /lists address 127.0.0.1:1 twice/],
    // An unset variable (--nodes "$NODES") read as no nodes, refused as "--rf 1 needs at least 1 nodes".
    ['', /^--nodes is empty$/],
    [' , ', /^--nodes is empty \(" , "\)$/],
  ])('refuses %s with a BAD_INPUT naming the problem', (input, message) => {
    let caught: unknown
    try {
      parseNodeSpecs(input)
    } catch (err) {
      caught = err
    }
    expect(isUserError(caught, 'BAD_INPUT')).toBe(true)
    expect((caught as Error).message).toMatch(message)
  })
})

/** lineOf is the one line the CLI prints for what `fn` throws. */
function lineOf(fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    expect(isUserError(err, 'BAD_INPUT')).toBe(true)
    return renderError(err, undefined).line
  }
  throw new Error('no error thrown')
}

describe('parseNodeSpecs errors', () => {
  it('give one example, not the same "e.g." twice', () => {
    expect(lineOf(() => parseNodeSpecs('n1=nothost'))).toBe('Error: node "n1": address "nothost" is invalid: address must be host:port, e.g. 127.0.0.1:7001 — use id=host:port or id=host:port@zone, e.g. n1=127.0.0.1:7001@a')
  })
})

describe('parseNodeFields (node add / node set: an id argument, --address and --zone)', () => {
  it('takes an id, an address and a zone as given; absent fields stay absent', () => {
    expect(parseNodeFields({id: 'n4', address: '127.0.0.1:7004', zone: 'c'})).toEqual({id: 'n4', address: '127.0.0.1:7004', zone: 'c'})
    expect(parseNodeFields({id: 'n4', zone: 'c'})).toEqual({id: 'n4', address: undefined, zone: 'c'})
  })

  it('names the id, not an address, when the id is bad (node add "n=9" blamed the address "9=127.0.0.1:7009")', () => {
    expect(lineOf(() => parseNodeFields({id: 'n=9', address: '127.0.0.1:7009'}))).toBe('Error: node id "n=9" is invalid: node id must be 1-63 characters of letters, digits, "_", "." or "-", starting with a letter or digit — pick an id such as n4')
    expect(lineOf(() => parseNodeFields({id: 'bad id', address: '127.0.0.1:7009'}))).toMatch(/^Error: node id "bad id" is invalid/)
  })

  it('names --address as typed, with one example (it said "e.g. 127.0.0.1:7001 — e.g. 127.0.0.1:7001")', () => {
    expect(lineOf(() => parseNodeFields({id: 'n4', address: 'nothost'}))).toBe('Error: --address "nothost" is invalid: address must be host:port, e.g. 127.0.0.1:7001 — pass the host:port the node serves on (its `node serve --listen`)')
    expect(lineOf(() => parseNodeFields({id: 'n4', address: '127.0.0.1:7004@b'}))).toMatch(/^Error: --address "127.0.0.1:7004@b" is invalid/)
  })

  it('names --zone as typed, with a --zone example (it named a zone "b@default" and gave an id=host:port@zone example)', () => {
    expect(lineOf(() => parseNodeFields({id: 'n4', address: '127.0.0.1:7004', zone: 'a@b'}))).toBe('Error: --zone "a@b" must be 1-63 letters, digits, "_", "." or "-" — e.g. --zone zone-a')
  })
})
