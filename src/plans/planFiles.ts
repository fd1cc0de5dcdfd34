import {readFileSync, renameSync, rmSync, type Stats, statSync, writeFileSync} from 'node:fs'
import {dirname, join} from 'node:path'
import {type z} from 'zod'
import {UserError} from '../errors/errors.js'
import {makeDirectories} from '../fs/makeDirectories.js'
import {hashPlan, type Plan, PlanSchema, verifyPlanHash} from '../model/plan.js'
import {type ClusterSnapshot, ClusterSnapshotSchema, shardMapFingerprint} from '../model/snapshot.js'
import {formatZodIssue} from '../model/zodIssues.js'
import {firstDuplicateKey} from './duplicateKeys.js'
import {readStdinTextSync} from './stdinText.js'
import {readFailure, writeFailure} from '../fs/fileFailure.js'

/** PLANS_DIR is where plans (and exported snapshots) are written when no --out is given, relative to the working directory. */
export const PLANS_DIR = 'plans'

/** STDIO_PATH: a file argument of `-` means standard input (for reading) or standard output (for writing). */
export const STDIO_PATH = '-'

/**
 * readJsonFile reads and parses a JSON file (`-`: all of standard input). Throws UserError
 * BAD_INPUT with one line naming the file when it cannot be read, is not JSON (NaN and
 * Infinity are not JSON), or repeats a key within one object.
 */
export function readJsonFile(path: string, what: string): unknown {
  // readFileSync('') fails ENOENT, which read as `plan : cannot read it (no such file)`.
  if (path.trim() === '') throw new UserError('BAD_INPUT', `the ${what} file path is empty`, `pass the path of the ${what} file, or - for standard input`)
  let text: string
  try {
    text = path === STDIO_PATH ? readStdinTextSync() : readFileSync(path, 'utf8')
  } catch (e) {
    throw new UserError('BAD_INPUT', `${what} ${path}: cannot read it (${readFailure(e)})`, 'check the path')
  }
  let value: unknown
  try {
    value = JSON.parse(text) as unknown
  } catch (e) {
    // The parser quotes the text it stopped at, newlines and all: escape them (cutting at the first lost the rest of its sentence).
    throw new UserError('BAD_INPUT', `${what} ${path}: not valid JSON (${(e as Error).message.replace(/\r/g, '\\r').replace(/\n/g, '\\n')})`, `${what}s are JSON documents; NaN and Infinity are not allowed`)
  }
  // JSON.parse keeps a repeated key's last value; a reader of the file may see the first (duplicateKeys.ts).
  const duplicate = firstDuplicateKey(text)
  if (duplicate) throw new UserError('BAD_INPUT', `${what} ${path}: ${duplicate.path}: key "${duplicate.key}" appears twice in one object; which value counts depends on the reader`, `shardctl never writes a repeated key: the file was edited; ${what === 'plan' ? 'compute a new plan with `shardctl plan`' : 'export it again'}`)
  return value
}

/**
 * looksLike tells a plan (it has `actions`) from a cluster snapshot (a `fingerprint` and
 * `shards`, no `actions`), so a file given where the other is expected is named for what it
 * is instead of failing on the first field the schema misses.
 */
function looksLike(value: unknown): 'plan' | 'snapshot' | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return undefined
  if ('actions' in value) return 'plan'
  return 'fingerprint' in value && 'shards' in value ? 'snapshot' : undefined
}

function validate<T>(schema: z.ZodType<T>, value: unknown, path: string, what: string, hint: string): T {
  const parsed = schema.safeParse(value)
  if (!parsed.success) throw new UserError('BAD_INPUT', `${what} ${path}: ${formatZodIssue(parsed.error)}`, hint)
  return parsed.data
}

/**
 * readSnapshotFile reads a snapshot (`snapshot export`'s output; `-` reads standard input) and validates it: schema,
 * cross-references (unknown node ids, loads of replicas that do not exist, range tiling) and
 * that its fingerprint matches its shard map (a hand-edited shard map must say so by
 * recomputing it). Throws UserError BAD_INPUT naming the file and the field path.
 */
export function readSnapshotFile(path: string): ClusterSnapshot {
  const value = readJsonFile(path, 'snapshot')
  if (looksLike(value) === 'plan') throw new UserError('BAD_INPUT', `${path} is a plan (\`shardctl plan\`), not a cluster snapshot`, 'export one with `shardctl snapshot export --out snap.json`')
  const snapshot = validate(ClusterSnapshotSchema, value, path, 'snapshot', 'see `shardctl snapshot schema` for the format')
  const actual = shardMapFingerprint(snapshot.shards)
  if (actual !== snapshot.fingerprint) {
    throw new UserError('BAD_INPUT', `snapshot ${path}: fingerprint: does not match the shards (${snapshot.fingerprint.slice(0, 12)} recorded, ${actual.slice(0, 12)} computed)`, 'the shard map was changed after export; export it again')
  }
  return snapshot
}

/**
 * readPlanFile reads a plan file, validates it (strictly: unknown fields are errors) and
 * checks its hash. Throws UserError BAD_INPUT naming the file and field path, or saying the
 * plan was modified after it was computed.
 */
export function readPlanFile(path: string): Plan {
  const value = readJsonFile(path, 'plan')
  if (looksLike(value) === 'snapshot') throw new UserError('BAD_INPUT', `${path} is a cluster snapshot (\`shardctl snapshot export\`), not a plan`, `compute a plan from it: \`shardctl plan --snapshot ${path} --out plan.json\``)
  const plan = validate(PlanSchema, value, path, 'plan', 'see `shardctl plan schema` for the format')
  if (!verifyPlanHash(plan)) {
    throw new UserError('BAD_INPUT', `plan ${path}: hash: the plan was modified after it was computed (recorded ${plan.hash.slice(0, 12)}, content hashes to ${hashPlan(plan).slice(0, 12)})`, 'compute a new plan with `shardctl plan`')
  }
  return plan
}

/** planIdFor names a plan after its cluster and creation time: `<cluster>-<YYYYMMDDTHHMMSSmmmZ>`, a valid file name and plan id. */
export function planIdFor(cluster: string, now: Date): string {
  return `${cluster}-${now.toISOString().replace(/[-:.]/g, '')}`
}

/** defaultPlanPath is `plans/<plan id>.json` under `cwd`. */
export function defaultPlanPath(plan: Pick<Plan, 'id'>, cwd: string): string {
  return join(cwd, PLANS_DIR, `${plan.id}.json`)
}

/**
 * writePlanFile writes `plan` as indented JSON to `path`, creating its directory. The file
 * appears whole or not at all (written beside, then renamed), so a failed run leaves nothing.
 * Throws UserError BAD_INPUT naming the path when it cannot be written.
 */
export function writePlanFile(plan: Plan, path: string): void {
  writeJsonFile(plan, path, 'plan.json')
}

/** snapshotIdFor names an exported snapshot after its cluster and the export time: `<cluster>-snapshot-<YYYYMMDDTHHMMSSmmmZ>`. */
export function snapshotIdFor(cluster: string, now: Date): string {
  return `${cluster}-snapshot-${now.toISOString().replace(/[-:.]/g, '')}`
}

/** defaultSnapshotPath is `plans/<cluster>-snapshot-<timestamp>.json` under `cwd` (beside the plans made from it). */
export function defaultSnapshotPath(cluster: string, now: Date, cwd: string): string {
  return join(cwd, PLANS_DIR, `${snapshotIdFor(cluster, now)}.json`)
}

/**
 * writeSnapshotFile writes `snapshot` as indented JSON to `path`, whole or not at all (as
 * {@link writePlanFile}); {@link readSnapshotFile} reads it back unchanged.
 */
export function writeSnapshotFile(snapshot: ClusterSnapshot, path: string): void {
  writeJsonFile(snapshot, path, 'snapshot.json')
}

/** writeJsonFile writes `value` whole or not at all; `example` is the file name the hints suggest (plan.json, snapshot.json). */
function writeJsonFile(value: unknown, path: string, example: string): void {
  // An empty --out (a variable left unset) failed renaming the temporary file to '', in errno words.
  if (path.trim() === '') throw new UserError('BAD_INPUT', 'cannot write to an empty path; nothing was written', `give a file path, e.g. --out ${example}, or leave --out out for the default under plans/`)
  const text = `${JSON.stringify(value, null, 2)}\n`
  // A device or pipe (/dev/stdout, /dev/null, a FIFO) is written in place: renaming over it
  // would replace the device node with a regular file.
  const existing = statIfExists(path)
  if (existing?.isDirectory()) throw new UserError('BAD_INPUT', `cannot write ${path}: it is a directory; nothing was written`, `give a file path, e.g. --out ${join(path, example)}`)
  if (existing && !existing.isFile()) {
    try {
      writeFileSync(path, text)
    } catch (err) {
      throw cannotWrite(path, err)
    }
    return
  }
  try {
    makeDirectories(dirname(path))
  } catch (err) {
    throw cannotWrite(path, err)
  }
  const tmp = `${path}.${process.pid}.tmp`
  try {
    writeFileSync(tmp, text)
    renameSync(tmp, path)
  } catch (err) {
    rmSync(tmp, {force: true})
    throw cannotWrite(path, err)
  }
}

/** cannotWrite is the user's error for a path the process cannot write (a parent that is a file, no permission, a read-only or full disk): theirs to fix, not a bug. */
function cannotWrite(path: string, err: unknown): UserError {
  return new UserError('BAD_INPUT', `cannot write ${path}: ${writeFailure(err)}; nothing was written`, 'pass a path in a writable directory (--out)', {cause: err})
}

function statIfExists(path: string): Stats | undefined {
  try {
    return statSync(path)
  } catch {
    return undefined
  }
}
