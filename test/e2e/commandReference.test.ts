import {readFileSync} from 'node:fs'
import {resolve} from 'node:path'
import {Config, Plugin} from '@oclif/core'
import {describe, expect, it} from 'vitest'
import {renderCommandReference} from '../../src/cli/commandReference.js'

/**
 * The command reference (docs/commands.md) is generated from the built commands, so it
 * cannot drift: this fails when the committed file differs from a fresh rendering, and
 * when the README names a `shardctl …` command that does not exist (as `snapshot export`
 * once went missing unnoticed). Needs dist/ (npm test builds it first).
 */

const root = resolve(import.meta.dirname, '../..')

/**
 * PENDING are commands the README documents that are being written on another branch.
 * Each is skipped with its reason, and the test below fails as soon as one exists, so the
 * entry is removed the day it lands instead of hiding a later loss.
 */
const PENDING: Record<string, string> = {}

/**
 * readmeCommands lists the `shardctl <words>` the README shows in code: inline spans and
 * `$ shardctl` lines. Alternatives written `list\\|show` in a table expand to one entry each.
 */
function readmeCommands(readme: string): {words: string[]; where: string}[] {
  const found: {words: string[]; where: string}[] = []
  const add = (text: string, where: string) => {
    const tokens = text.replaceAll('\\|', '\u0000').split(/[|;&>]/)[0]!.split(/\s+/).filter(Boolean)
    let variants: string[][] = [[]]
    for (const t of tokens.slice(0, 3)) {
      const alternatives = t.split('\u0000').filter((w) => /^[a-z][a-z0-9-]*$/.test(w))
      if (alternatives.length === 0) break
      variants = variants.flatMap((v) => alternatives.map((a) => [...v, a]))
    }
    for (const words of variants) if (words.length > 0) found.push({words, where})
  }
  readme.split('\n').forEach((line, i) => {
    for (const m of line.matchAll(/`shardctl ([^`]+)`/g)) add(m[1]!, `README.md:${i + 1}: ${m[0]}`)
    const shell = /^\s*\$ shardctl (.+)$/.exec(line)
    if (shell) add(shell[1]!, `README.md:${i + 1}: ${line.trim()}`)
  })
  return found
}

/** resolveCommand is the longest command id made of the leading words, or undefined when the words name none. */
function resolveCommand(words: string[], ids: Set<string>, topics: Set<string>): {id?: string; topicOnly: boolean} {
  for (let n = words.length; n > 0; n--) {
    const id = words.slice(0, n).join(':')
    if (ids.has(id)) {
      // `shardctl node frobnicate` is not `node` plus an argument when `node` is only a topic.
      return {id, topicOnly: false}
    }
  }
  return {topicOnly: topics.has(words[0]!)}
}

describe('docs/commands.md', () => {
  it('matches a fresh rendering of the built commands (run `npm run docs:commands` when this fails)', async () => {
    const plugin = new Plugin({root, type: 'core', ignoreManifest: true, errorOnManifestCreate: true, respectNoCacheDefault: true})
    await plugin.load()
    const fresh = renderCommandReference(plugin.manifest, 'shardctl')
    const committed = readFileSync(resolve(root, 'docs/commands.md'), 'utf8')
    expect(committed, 'docs/commands.md is stale: run `npm run docs:commands` and commit it').toBe(fresh)
    // Every command is in it, with its flags.
    for (const id of Object.keys(plugin.manifest.commands)) expect(fresh).toContain(`## shardctl ${id.replaceAll(':', ' ')}\n`)
    expect(fresh).toContain('`SHARDCTL_NODE_LISTEN`')
  }, 60_000)
})

describe('README', () => {
  it('names only commands that exist', async () => {
    const config = await Config.load({root})
    const ids = new Set(config.commandIDs)
    const topics = new Set(config.topics.map((t) => t.name))
    const readme = readFileSync(resolve(root, 'README.md'), 'utf8')
    const mentions = readmeCommands(readme)
    expect(mentions.length).toBeGreaterThan(10)
    const missing: string[] = []
    for (const m of mentions) {
      const r = resolveCommand(m.words, ids, topics)
      if (r.id) continue
      const asTyped = m.words.slice(0, 2).join(' ')
      if (PENDING[asTyped] !== undefined || PENDING[m.words[0]!] !== undefined) continue
      // A first word that is neither a command nor a topic is prose (`shardctl` followed by text), unless it is a topic.
      if (r.topicOnly || ids.has(m.words[0]!)) missing.push(m.where)
    }
    expect(missing, `the README names commands that do not exist:\n${missing.join('\n')}`).toEqual([])
  }, 60_000)

  for (const [command, reason] of Object.entries(PENDING)) {
    it(`names \`shardctl ${command}\`, which is pending: ${reason}`, async () => {
      const config = await Config.load({root})
      // Fails once the command exists: then delete its PENDING entry so the check above covers it.
      expect(config.commandIDs, `\`shardctl ${command}\` exists now: remove it from PENDING in this file`).not.toContain(command.replaceAll(' ', ':'))
    })
  }
})
