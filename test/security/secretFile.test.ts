import {existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {afterEach, beforeEach, describe, expect, it} from 'vitest'
import {isUserError} from '../../src/errors/errors.js'
import {createWithSecretFile, reserveSecretFile} from '../../src/security/secretFile.js'
import {errorOf} from '../support/errorOf.js'

let dir: string
beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'shardctl-secret-'))))
afterEach(() => rmSync(dir, {recursive: true, force: true}))


describe('reserveSecretFile', () => {
  it('creates the file 0600 before the secret exists, then writes the secret into it', () => {
    const path = join(dir, 'alice.token')
    const file = reserveSecretFile(path, '--token-file')
    expect(statSync(path).mode & 0o777).toBe(0o600)
    file.write('alice.s3cret')
    expect(readFileSync(path, 'utf8')).toBe('alice.s3cret\n')
  })

  it('refuses a path that cannot take the secret before anything else happens: an existing file, a directory, a path through a file', () => {
    const existing = join(dir, 'old.token')
    writeFileSync(existing, 'keep')
    expect(isUserError(errorOf(() => reserveSecretFile(existing, '--token-file')), 'ALREADY_EXISTS')).toBe(true)
    expect(readFileSync(existing, 'utf8')).toBe('keep')
    expect(errorOf(() => reserveSecretFile(dir, '--token-file')).message).toMatch(/already exists; nothing was changed$/)
    const under = errorOf(() => reserveSecretFile(join(existing, 't'), '--token-file'))
    expect(isUserError(under, 'BAD_INPUT')).toBe(true)
    expect(under.message).toBe(`--token-file: cannot write ${join(existing, 't')}: it or a parent of it is a file; nothing was changed`)
  })

  it('abandon deletes the reserved file when the secret was never created', () => {
    const path = join(dir, 'bob.token')
    reserveSecretFile(path, '--token-file').abandon()
    expect(existsSync(path)).toBe(false)
  })
})

describe('createWithSecretFile', () => {
  it('writes the token that create returns into the reserved file, 0600', async () => {
    const path = join(dir, 'carol.token')
    expect(await createWithSecretFile(path, '--token-file', async () => ({token: 'tok-1'}))).toEqual({token: 'tok-1'})
    expect(readFileSync(path, 'utf8')).toBe('tok-1\n')
    expect(statSync(path).mode & 0o777).toBe(0o600)
  })

  it('removes the file when create throws or returns no token, and never runs create when the file cannot be reserved', async () => {
    const path = join(dir, 'dave.token')
    await expect(createWithSecretFile(path, '--token-file', async () => Promise.reject(new Error('refused')))).rejects.toThrow('refused')
    expect(existsSync(path)).toBe(false)
    await createWithSecretFile(path, '--token-file', async () => ({}))
    expect(existsSync(path)).toBe(false)
    writeFileSync(path, 'kept')
    let ran = false
    await expect(
      createWithSecretFile(path, '--token-file', async () => {
        ran = true
        return {token: 'x'}
      }),
    ).rejects.toThrow(/already exists/)
    expect(ran).toBe(false)
    expect(readFileSync(path, 'utf8')).toBe('kept')
  })
})
