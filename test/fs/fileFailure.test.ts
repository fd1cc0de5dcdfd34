import {mkdtempSync, readFileSync, rmSync, writeFileSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {readFailure, writeFailure} from '../../src/fs/fileFailure.js'
import {readKeyFile} from '../../src/plans/signing.js'
import {errorOf} from '../support/errorOf.js'

describe('readFailure', () => {
  it('says why a read failed in words for the usual causes, and keeps any other code', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardctl-read-failure-'))
    try {
      writeFileSync(join(dir, 'file'), 'x')
      expect(readFailure(errorOf(() => readFileSync(dir)))).toBe('it is a directory')
      expect(readFailure(errorOf(() => readFileSync(join(dir, 'missing'))))).toBe('no such file')
      expect(readFailure(errorOf(() => readFileSync(join(dir, 'file', 'under'))))).toBe('a parent of it is a file')
      expect(readFailure(Object.assign(new Error('x'), {code: 'EACCES'}))).toBe('permission denied')
      expect(readFailure(Object.assign(new Error('x'), {code: 'EIO'}))).toBe('EIO')
      expect(readFailure(new Error('first line\nsecond'))).toBe('first line')
      // A key file that is a directory (a --require-signature typo) said "cannot read it (EISDIR)".
      expect(errorOf(() => readKeyFile(dir, 'public')).message).toBe(`public key ${dir}: cannot read it (it is a directory)`)
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })

  it('says why a write failed in words, for the files and dirs commands create (they showed errno: ENOTDIR, EROFS)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'shardctl-write-failure-'))
    try {
      writeFileSync(join(dir, 'file'), 'x')
      expect(writeFailure(errorOf(() => writeFileSync(join(dir, 'file', 'under'), 'y')))).toBe('it or a parent of it is a file')
      expect(writeFailure(errorOf(() => writeFileSync(join(dir, 'missing', 'f'), 'y')))).toBe('no such file or directory')
      expect(writeFailure(errorOf(() => writeFileSync(dir, 'y')))).toBe('it is a directory')
      expect(writeFailure(Object.assign(new Error('x'), {code: 'EROFS'}))).toBe('read-only file system')
      expect(writeFailure(Object.assign(new Error('x'), {code: 'ENOSPC'}))).toBe('no space left on the device')
      expect(writeFailure(Object.assign(new Error('x'), {code: 'EIO'}))).toBe('EIO')
    } finally {
      rmSync(dir, {recursive: true, force: true})
    }
  })
})
