import {type ServiceContext} from '../cluster/serviceContext.js'
import {type NodeMark} from '../model/node.js'
import {type StorageEngine} from './storageEngine.js'

/** WriteMarkPublisherOptions configure a {@link WriteMarkPublisher}. */
export interface WriteMarkPublisherOptions {
  ctx: Pick<ServiceContext, 'store' | 'keys' | 'clock'>
  node: string
  engine: Pick<StorageEngine, 'dataDirId' | 'raiseWriteMark' | 'writesQueuedBefore'>
  /**
   * published is the mark `marks/<id>` held when this process registered (0: none). Each raise
   * goes above it: a dir accepted below it (a restored copy, with --accept-empty-data or while
   * the node held nothing) must not set the mark down to its own, or the dir it replaced, still
   * at or above that lower mark, would be taken back later although it lacks every write the
   * copy acknowledged since (test/integration/node/restoredDataDir.test.ts).
   */
  published: () => number
  /**
   * claimRevision is the mod revision of claims/<id> as this process wrote it (start-up) or
   * found it its own (re-registration); undefined before the first registration. The publish
   * compares on it: a process that lost the id (frozen past its lease while another started,
   * or removed) publishes nothing over the process that holds it now.
   */
  claimRevision: () => bigint | undefined
}

/**
 * WriteMarkPublisher keeps `marks/<id>` (NodeMarkSchema) at or below the data dir's own write
 * mark, so that a start on a copy of the dir from before its later writes is told apart
 * (dataDirClaim.ts, `behind`). Each publish first raises the dir's mark (a durable commit),
 * then writes it to etcd: never the other way round, or a crash between the two would leave an
 * intact dir below its published mark and refused. It publishes only after the node committed
 * something since the last publish (an idle node writes nothing to etcd), or when forced (once
 * at registration: a dir accepted below its mark with --accept-empty-data raises its own above
 * the published one, never sets the published one down), and before a gc fence is answered
 * ({@link cover}: no tombstone is purged until every replica published a mark above any copy
 * of its dir that lacks it). A backup older than the last publish is refused; one taken after
 * it is not told apart (the writes it lacks are one stats interval's, more while publishes
 * fail: README; never a purged delete's tombstone).
 */
export class WriteMarkPublisher {
  private commits = 0
  private commitsAtPublish = -1
  private running: Promise<NodeMark | undefined> | undefined

  constructor(private readonly opts: WriteMarkPublisherOptions) {}

  /** committed counts one commit of the node's storage (any kind). */
  committed(): void {
    this.commits++
  }

  /**
   * publish raises and publishes the mark when there were commits since the last publish (or
   * `force`); resolves with what it published (undefined: nothing to publish, or the claim
   * is no longer this process's). A call while one runs waits for it and does not run again.
   * Rejects with the storage's or etcd's error; the next call tries again.
   */
  publish(force = false, forPurge = false): Promise<NodeMark | undefined> {
    this.running ??= this.run(force, forPurge).finally(() => (this.running = undefined))
    return this.running
  }

  /**
   * cover resolves once this process has published a mark raised after every commit counted
   * so far ({@link committed}), so that any copy of the dir lacking one of them starts below
   * the published mark and is judged `behind`. A tombstone purge relies on it: a replica
   * answers a gc fence only after this, so a copy of its dir taken before it held a purged
   * delete is refused, never served as current with the deleted value
   * (test/integration/node/restoredDirUnpublishedPurge.test.ts). Publishes only when some
   * commit is not covered yet (concurrent calls share one publish).
   * Rejects with the storage's or etcd's error, or when the claim is no longer this
   * process's (nothing was published: a purge must not go on).
   */
  async cover(): Promise<void> {
    // Every write queued before the call has committed and been counted once this resolves
    // (replies come back in queue order): one that committed in the writer thread but whose
    // count had not come back yet would otherwise be taken as covered by an older raise.
    await this.opts.engine.writesQueuedBefore()
    const target = this.commits
    // A publish already running may have read its count before `target`: then one more.
    // forPurge: the raise may spend the disk reserve, as the purge this cover is for does.
    for (let attempt = 0; attempt < 3 && this.commitsAtPublish < target; attempt++) await this.publish(false, true)
    if (this.commitsAtPublish < target) throw new Error(`the write mark of node ${this.opts.node} was not published (its claim is no longer this process's)`)
  }

  private async run(force: boolean, forPurge: boolean): Promise<NodeMark | undefined> {
    const claimRevision = this.opts.claimRevision()
    if (claimRevision === undefined) return undefined
    if (!force && this.commits === this.commitsAtPublish) return undefined
    const {ctx, node, engine} = this.opts
    // Read before the raise: a commit made while it runs calls for the next publish. (The raise
    // itself is a meta commit, which the node does not count: it calls for none.)
    const seen = this.commits
    const mark = await engine.raiseWriteMark(this.opts.published(), forPurge)
    const value: NodeMark = {node, dataDirId: engine.dataDirId(), mark, at: ctx.clock().toISOString()}
    const done = await ctx.store.commit({compares: [{key: ctx.keys.claim(node), modRevision: claimRevision}], puts: [{key: ctx.keys.mark(node), value: JSON.stringify(value)}]})
    if (done === undefined) return undefined
    this.commitsAtPublish = seen
    return value
  }
}
