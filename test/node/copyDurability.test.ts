import {join} from 'node:path'
import {describe, expect, it} from 'vitest'
import {DigestCells} from '../../src/node/digestCells.js'
import {DB_FILE, LwwWriter, openConnection} from '../../src/node/lwwSql.js'
import {ALL, engineFixture, rec, v} from './engineFixture.js'

// writerThread false: these tests look at one connection's commits, not at threads (and closing thread engines is slow on a loaded machine).
const open = engineFixture('copysync', {synchronous: 'FULL', writerThread: false})

/**
 * A copy frame that is not the last commits without its fsync (synchronous NORMAL for that
 * one transaction); everything else on the writer's connection must still commit at FULL,
 * or an acknowledged client write could sit unsynced behind it.
 */
describe('LwwWriter.applyCopy durability', () => {
  function writerOn(dir: string, synchronous: 'FULL' | 'NORMAL') {
    const db = openConnection(join(dir, DB_FILE), synchronous, 16384)
    return {db, writer: new LwwWriter(db, new DigestCells()), level: () => Number(db.pragma('synchronous', {simple: true}))}
  }

  it('given a FULL connection, a non-durable frame runs at NORMAL and the connection is back at FULL after it, also after a failed frame', () => {
    const {dir} = open()
    const {db, writer, level} = writerOn(dir, 'FULL')
    try {
      expect(level()).toBe(2)
      let inside = -1
      const spy = db.pragma.bind(db)
      db.pragma = ((src: string, opts?: {simple?: boolean}) => {
        if (src === 'synchronous = FULL' && inside === -1) inside = Number(spy('synchronous', {simple: true}))
        return spy(src, opts)
      }) as typeof db.pragma
      writer.applyCopy([rec('a', v(1), 'x')], 'copy/1', '{}', false)
      expect(inside).toBe(1) // the frame committed at NORMAL
      expect(level()).toBe(2)
      expect(() => writer.applyCopy([{key: Buffer.from('b'), version: v(1), value: Buffer.from('y')}], 'copy/1', null as unknown as string, false)).toThrow()
      expect(level()).toBe(2)
      writer.applyCopy([rec('c', v(1), 'z')], 'copy/1', '{"done":true}', true)
      expect(level()).toBe(2)
      expect(db.prepare('SELECT count(*) AS n FROM kv').get()).toEqual({n: 2})
    } finally {
      db.close()
    }
  })

  it('given a NORMAL connection, frames leave it at NORMAL (the node chose no fsync per commit)', () => {
    const {dir} = open({synchronous: 'NORMAL'})
    const {db, writer, level} = writerOn(dir, 'NORMAL')
    try {
      writer.applyCopy([rec('a', v(1), 'x')], 'copy/1', '{}', false)
      writer.applyCopy([rec('b', v(1), 'x')], 'copy/1', '{}', true)
      expect(level()).toBe(1)
    } finally {
      db.close()
    }
  })

  it('a frame and its resume state commit together whatever the durability', async () => {
    const {engine} = open()
    await engine.applyCopyBatch([rec('k', v(5), 'copied')], 'copy/9', '{"cursor":"x"}', undefined, false)
    expect(engine.metaValue('copy/9')).toBe('{"cursor":"x"}')
    expect(engine.get(Buffer.from('k'))?.value?.toString()).toBe('copied')
    expect(engine.digest(ALL).counts.reduce((a, b) => a + b, 0)).toBe(1)
  })
})
