import {describe, expect, it} from 'vitest'
import {type AuthDirectory, authorize, formatToken, hashSecret, type Role, type User} from '../../src/security/accessControl.js'

const role = (name: string, access: Role['access'], prefixes: string[]): Role => ({version: 1, name, access, prefixes})
const user = (name: string, roles: string[], secrets: string[], certificate = false): User => ({
  version: 1,
  name,
  roles,
  tokens: secrets.map((s, i) => ({id: `0000000${i}`, sha256: hashSecret(s), createdAt: 'now'})),
  certificate,
  createdAt: 'now',
})

const dir: AuthDirectory = {
  roles: new Map([
    ['reader', role('reader', 'read', ['app/'])],
    ['writer', role('writer', 'write', ['app/', 'logs/'])],
    ['ops', role('ops', 'admin', [''])],
  ]),
  users: new Map([
    ['alice', user('alice', ['reader'], ['a-secret'])],
    ['bob', user('bob', ['writer', 'gone'], ['b-old', 'b-new'])],
    ['carol', user('carol', ['reader'], [], true)],
    ['dave', user('dave', ['reader'], ['d-secret'], false)],
    ['root', user('root', ['ops'], ['r-secret'])],
  ]),
}
const key = (k: string) => Buffer.from(k)

describe('authorize', () => {
  it('refuses with UNAUTHORIZED when nothing, a wrong secret, or another user\'s secret is presented', () => {
    expect(authorize(dir, {}, {kind: 'read', key: key('app/x')})).toMatchObject({allowed: false, code: 'UNAUTHORIZED'})
    expect(authorize(dir, {bearer: formatToken('alice', 'wrong')}, {kind: 'read', key: key('app/x')})).toMatchObject({allowed: false, code: 'UNAUTHORIZED'})
    expect(authorize(dir, {bearer: formatToken('alice', 'b-new')}, {kind: 'read', key: key('app/x')})).toMatchObject({allowed: false, code: 'UNAUTHORIZED'})
    expect(authorize(dir, {bearer: formatToken('nobody', 'a-secret')}, {kind: 'read', key: key('app/x')})).toMatchObject({allowed: false, code: 'UNAUTHORIZED'})
    expect(authorize(dir, {bearer: 'a-secret'}, {kind: 'read', key: key('app/x')})).toMatchObject({allowed: false, code: 'UNAUTHORIZED'})
  })

  it('never puts the presented token in its message', () => {
    const d = authorize(dir, {bearer: formatToken('alice', 'guess-123')}, {kind: 'read', key: key('app/x')})
    expect(JSON.stringify(d)).not.toContain('guess-123')
  })

  it('read roles read inside their prefixes only, and never write', () => {
    const alice = {bearer: formatToken('alice', 'a-secret')}
    expect(authorize(dir, alice, {kind: 'read', key: key('app/x')})).toEqual({allowed: true, user: 'alice'})
    expect(authorize(dir, alice, {kind: 'read', key: key('ap')})).toMatchObject({code: 'FORBIDDEN'})
    expect(authorize(dir, alice, {kind: 'read', key: key('other/app/x')})).toMatchObject({code: 'FORBIDDEN'})
    expect(authorize(dir, alice, {kind: 'write', key: key('app/x')})).toMatchObject({code: 'FORBIDDEN', message: expect.stringContaining('user "alice" may not write')})
    expect(authorize(dir, alice, {kind: 'metrics'})).toMatchObject({code: 'FORBIDDEN'})
  })

  it('either of two tokens works (rotation), a missing role grants nothing, write implies read', () => {
    for (const s of ['b-old', 'b-new']) expect(authorize(dir, {bearer: formatToken('bob', s)}, {kind: 'write', key: key('logs/1')})).toEqual({allowed: true, user: 'bob'})
    expect(authorize(dir, {bearer: formatToken('bob', 'b-new')}, {kind: 'read', key: key('app/1')})).toMatchObject({allowed: true})
    expect(authorize(dir, {bearer: formatToken('bob', 'b-new')}, {kind: 'write', key: key('other')})).toMatchObject({code: 'FORBIDDEN'})
  })

  it('a certificate CN counts only for a user that accepts certificates', () => {
    expect(authorize(dir, {certificateCn: 'carol'}, {kind: 'read', key: key('app/x')})).toEqual({allowed: true, user: 'carol'})
    expect(authorize(dir, {certificateCn: 'dave'}, {kind: 'read', key: key('app/x')})).toMatchObject({code: 'UNAUTHORIZED'})
    expect(authorize(dir, {certificateCn: 'nobody'}, {kind: 'read', key: key('app/x')})).toMatchObject({code: 'UNAUTHORIZED'})
  })

  it('admin with the empty prefix covers every key and metrics; prefixes compare bytes, not characters', () => {
    const root = {bearer: formatToken('root', 'r-secret')}
    expect(authorize(dir, root, {kind: 'metrics'})).toMatchObject({allowed: true})
    expect(authorize(dir, root, {kind: 'write', key: Buffer.from([0xff, 0x00])})).toMatchObject({allowed: true})
    const bytes: AuthDirectory = {roles: new Map([['r', role('r', 'read', ['é'])]]), users: new Map([['u', user('u', ['r'], ['s'])]])}
    expect(authorize(bytes, {bearer: 'u.s'}, {kind: 'read', key: Buffer.from('é/x')})).toMatchObject({allowed: true})
    expect(authorize(bytes, {bearer: 'u.s'}, {kind: 'read', key: Buffer.from([0xc3])})).toMatchObject({code: 'FORBIDDEN'})
  })
})
