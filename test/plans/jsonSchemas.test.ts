import {readFileSync} from 'node:fs'
import {describe, expect, it} from 'vitest'
import {planJsonSchema, snapshotJsonSchema} from '../../src/plans/jsonSchemas.js'

const published = (name: string) => JSON.parse(readFileSync(new URL(`../../schemas/${name}`, import.meta.url), 'utf8')) as unknown

describe('published JSON Schemas', () => {
  // Regenerate with: shardctl plan schema > schemas/plan.schema.json; shardctl snapshot schema > schemas/snapshot.schema.json
  it('schemas/plan.schema.json matches the zod schema plans are validated with', () => {
    expect(published('plan.schema.json')).toEqual(planJsonSchema())
  })

  it('schemas/snapshot.schema.json matches the zod schema snapshots are validated with', () => {
    expect(published('snapshot.schema.json')).toEqual(snapshotJsonSchema())
  })
})
