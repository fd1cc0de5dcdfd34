import {randomUUID} from 'node:crypto'
import {type IncomingMessage, type Server, type ServerResponse} from 'node:http'
import {type AddressInfo} from 'node:net'
import {getMeta} from '../cluster/clusterRepo.js'
import {type ServiceContext} from '../cluster/serviceContext.js'
import {UserError, errorMessage, isUserError} from '../errors/errors.js'
import {FailureStreak} from '../log/failureStreak.js'
import {LeasedMembership} from '../store/leasedMembership.js'
import {grantLease, type LeaseHandle} from '../etcd/leaseHandle.js'
import {warnOnEtcdBugs} from '../etcd/etcdVersionCheck.js'
import {type Alive, AliveSchema, NodeClaimSchema, type NodeMark, NodeSchema} from '../model/node.js'
import {type Watch} from '../store/store.js'
import {type Capacity} from '../model/resources.js'
import {ClockMonitor} from '../clock/clockMonitor.js'
import {retryFor} from '../clock/retryFor.js'
import {DEFAULT_MAX_CLOCK_OFFSET_MS} from '../clock/clockOffsetTracker.js'
import {type NodeStats} from '../model/stats.js'
import {putNodeStats} from '../stats/statsPublish.js'
import {earlyPublishAt, type LastPublish, sameShards} from './statsPublishPacing.js'
import {loadClusterToken} from './clusterToken.js'
import {withKeySamples} from './keyLoadSampler.js'
import {LoadMeter} from './loadMeter.js'
import {NodeMetrics, type ShardFigure} from './nodeMetrics.js'
import {NodeHttpApi, startingHandler} from './nodeHttpApi.js'
import {resolveIdentityClaim, Superseded} from './identityGuard.js'
import {CopyReceiver} from './copyReceiver.js'
import {COPY_RECEIVE_THREAD_NICE} from './threadPriority.js'
import {NodeClients} from './nodeClients.js'
import {NodeThrottles} from './nodeThrottles.js'
import {unfinishedMovesOf} from './moveCopyHolds.js'
import {MOVES_VIEW_MAX_AGE_MS, MovesView, readMoves} from './movesView.js'
import {OrphanSweeper, RangeWriteGate} from './orphanSweeper.js'
import {restoredDirRanges} from './restoredDirRanges.js'
import {type NodeLog} from './nodeLog.js'
import {NodeShardView} from './shardMapFollower.js'
import {ForeignClusterError, hasDatabase, StorageEngine} from './storageEngine.js'
import {WriteMarkPublisher} from './writeMarkPublisher.js'
import {type DataDirGuardOptions, guardDataDir, judgeDataDir, readRecordedDataDir} from './dataDirGuard.js'
import {type DataDirLock, lockDataDir} from './dataDirLock.js'
import {type StorageFullError} from './storageFull.js'
import {DiskReserve} from './diskReserve.js'
import {type DiskReserveSetting, fullRetry} from './diskReservePolicy.js'
import {StopSignals} from '../daemon/stopSignals.js'
import {repairShards} from '../repair/repairService.js'
import {requireTransportAllowed} from '../security/clusterSecurity.js'
import {setDefaultClientTls} from '../transport/clientTls.js'
import {createDataPlaneServer, reloadServerTls} from '../transport/dataPlaneServer.js'
import {TlsReloader} from '../transport/tlsReloader.js'
import {wholeNumberEnvValue} from '../config/wholeNumberEnv.js'
import {COPY_RECEIVE_THREAD_VARIABLE} from './tuningEnv.js'
import {type TlsMaterial} from '../transport/tlsMaterial.js'
import {formatListen} from '../model/units.js'

/**
 * RECOVERY_WRITES_WAIT_MS bounds how long re-registering after a lost lease waits for the writes
 * let in before to finish; past it the attempt fails and the membership retries with backoff.
 */
const RECOVERY_WRITES_WAIT_MS = 5000

/** RESERVE_CHECK_MS: how often (at most) the node checks whether its disk reserve can be made again. */
const RESERVE_CHECK_MS = 5000

/** FINAL_MARK_WAIT_MS bounds the write mark publish of a graceful stop (publishFinalMark). */
const FINAL_MARK_WAIT_MS = 3000

/** antiEntropyIntervalMs: a quarter of the grace, between 1 s and 5 min, so a tombstone is collected within about 1.25 graces of its delete. */
export function antiEntropyIntervalMs(graceMs: number): number {
  return Math.max(1000, Math.min(300_000, Math.floor(graceMs / 4)))
}

/** StorageNodeOptions configures {@link StorageNode.start}. */
export interface StorageNodeOptions {
  id: string
  /** host and port to listen on (port 0: any free port; the real one is advertised). */
  listenHost: string
  listenPort: number
  /** advertise is the `host:port` others reach the node at (default: the listen address). */
  advertise?: string
  dataDir: string
  /** zone and capacity are written to the node record when given (or when the record is created). */
  zone?: string
  capacity?: Capacity
  /** token overrides the cluster token from etcd (it must match it when etcd has one). */
  token?: string
  statsIntervalMs: number
  leaseTtlSeconds: number
  tombstoneGraceMs: number
  /** orphanGraceMs: data of a range the node holds no role for is removed after this long (default 10 min). */
  orphanGraceMs?: number
  shutdownTimeoutMs: number
  /** maxClockOffsetMs is the cluster's clock bound (default 500): writes (ClockMonitor, NodeHttpApi) and tombstone cutoffs. */
  maxClockOffsetMs?: number
  synchronous: 'FULL' | 'NORMAL'
  log: NodeLog
  /** tls: serve mutual TLS only (peers need a certificate of the CA) and dial peers with it; absent: plaintext, refused by a TLS-only cluster. */
  tls?: TlsMaterial
  /** diskReserve is the `--disk-reserve` setting (default auto; 0: off; see DiskReserve). */
  diskReserve?: DiskReserveSetting
  /** tlsPollMs: how often the TLS files are polled for rotation, beside file events and SIGHUP (default 2000). */
  tlsPollMs?: number
  /** acceptEmptyData: serve from a dir other than the one the node record names even though the node holds replicas (--accept-empty-data; see src/node/dataDirClaim.ts). */
  acceptEmptyData?: boolean
}

/** StopSummary says how a node's shutdown went. */
export interface StopSummary {
  node: string
  address: string
  reason: string
  /** abandoned counts requests still running at the shutdown deadline (their connections were closed). */
  abandoned: number
}

/**
 * StorageNode is one running `shardctl node serve`: the storage engine, the HTTP API, its
 * registration in etcd (node record, leased alive/<id>), the shard-map follower and the
 * leased stats publisher. When its lease is lost it stops serving (503 NOT_SERVING) until
 * it has a new lease and a fresh map; {@link stop} shuts it down gracefully.
 */
export class StorageNode {
  private membership?: LeasedMembership
  /** claimedAt is the revision of this process's latest claim of alive/<id>; aliveWatch follows the key from the first one. */
  private claimedAt = 0n
  /** aliveDeletedAt is the revision of the latest delete of alive/<id> the watch saw (0n: none); one past claimedAt removed this process's registration. */
  private aliveDeletedAt = 0n
  /** ownClaimRevision is claims/<id>'s mod revision as this process wrote it or found it its own (undefined: not registered); write marks compare on it. */
  private ownClaimRevision: bigint | undefined
  /** markPublishedAtClaim is marks/<id>'s mark as read for this process's claim (0: none); every raise goes above it (see WriteMarkPublisherOptions.published). */
  private markPublishedAtClaim = 0
  /** marks publishes the data dir's write mark (see WriteMarkPublisher). */
  private marks?: WriteMarkPublisher
  private aliveWatch?: Watch
  private registered = false
  /** acceptedEmpty: this process registered on a dir --accept-empty-data let it serve while it held replicas (see restoredDirRanges.ts). */
  private acceptedEmpty = false
  private stopping = false
  private stopped?: Promise<StopSummary>
  private readonly timers: NodeJS.Timeout[] = []
  private advertised = ''
  private sweeper?: OrphanSweeper
  /** movesView: the moves as the node's readers share them (set once opened; anti-entropy's purge hold reads it). */
  private movesView?: MovesView
  /** copyPeers are the pools this node pulls copies over (closed at shutdown). */
  private copyPeers?: NodeClients
  /** copyReceiver receives the copy streams this node pulls in its own thread (closed at shutdown; absent with SHARDCTL_COPY_RECEIVE_THREAD=0). */
  private copyReceiver?: CopyReceiver
  private antiEntropyRunning = false
  /** graceWarning is the last grace refusal anti-entropy logged (logged again only when it changes). */
  private graceWarning: string | undefined
  /** statsPublishing is set while a publish runs: a slow one is not overlapped by the next tick. */
  private statsPublishing = false
  /** publishedPages is how many load pages the last publish under `publishedLease` wrote (older ones beyond the new count are deleted). */
  private publishedPages = 0
  private publishedLease = ''
  /** publishedShards are the shard ids the last publish named (in id order). */
  private publishedShards: number[] = []
  /** lastPublish is when the last publish started and how long it took: it paces the early ones (statsPublishPacing.ts). */
  private lastPublish?: LastPublish
  /** earlyPublish is the timer of a publish asked for by a change of the node's replicas, waiting for its turn. */
  private earlyPublish?: NodeJS.Timeout
  /** checkAfterPublish: the map changed while a publish ran, which named the replicas as they were before: check once it ends. */
  private checkAfterPublish = false
  private tlsReloader?: TlsReloader
  /** reserve is the disk reserve file, checked on a timer (made again once there is room for it). */
  private reserve?: DiskReserve
  /** storageFailed settles when the storage writer thread died or could not open the database. */
  private storageFailed = new StorageFailure()
  /** superseded settles when re-registration found another process serving this node id: the node stops for good (see decideClaim). */
  private readonly superseded = new StorageFailure()
  /**
   * judgedAtStart is the mod revision of alive/<id> that start() judged this process may claim
   * (0n: absent), before it listened. The first registration compares on it instead of judging
   * again: unchanged, nothing was learned since (a holder found dead stays dead, its key unchanged).
   */
  private judgedAtStart?: bigint
  /** startAbort (the start-up's signal, set by boot) and stopAbort (aborted by stop) end a wait of the identity check in publishAlive. */
  private startAbort?: AbortSignal
  private readonly stopAbort = new AbortController()
  /** dirLock is the data dir's lock (dataDirLock.ts), released once stop has closed the storage. */
  private dirLock?: DataDirLock

  private constructor(
    private readonly ctx: ServiceContext,
    private readonly opts: StorageNodeOptions,
    private readonly engine: StorageEngine,
    private readonly map: NodeShardView,
    private readonly meter: LoadMeter,
    private readonly api: NodeHttpApi,
    private readonly server: Server,
    private readonly clock: ClockMonitor,
    /** instance is this process's random id: in its alive/<id> and on /healthz, so a second process with the same --id can tell it runs (identityClaim.ts). */
    private readonly instance: string,
  ) {}

  /**
   * start checks the cluster exists and that no other process serves this node id, listens,
   * opens the data dir, loads (or creates) the cluster token, follows the shard map, takes a
   * lease and registers the node (alive/<id> and its record, in one conditional write); the
   * node serves once all of that is done. Throws UserError: NOT_FOUND (no cluster, or no
   * record of this node id: it must be added by `cluster init` or `node add` first),
   * LOCK_HELD (another process serves this id: see identityClaim.ts; nothing was changed),
   * BAD_INPUT (unusable data dir or listen address, token mismatch, or a data dir other than
   * the one the node record names while the node holds replicas: see dataDirClaim.ts; nothing
   * was changed), ETCD_* (etcd trouble).
   * The checks that need no disk come first: a refused start creates no data dir.
   * Order on disk: the identity check (etcd), the new-dir guard (a dir without a database:
   * etcd), the listener, then the data dir's lock (dataDirLock.ts: LOCK_HELD when another
   * process still holds the dir after 3 s, a frozen one included; it makes the dir if missing),
   * and only then the database. The lock is held until {@link stop} has closed the storage
   * (or the process exits).
   * `abort` is checked between the steps up to the lease: once it is aborted, start undoes
   * what it did (lease revoked, listener and storage closed) and throws {@link StartAborted};
   * aborted later, it returns the node without its first stats publish (the caller stops it).
   * The first stats publish is started, not awaited: the node serves before its stats exist.
   */
  static async start(ctx: ServiceContext, opts: StorageNodeOptions, abort?: AbortSignal): Promise<StorageNode> {
    const meta = await getMeta(ctx)
    await requireTransportAllowed(ctx, opts.tls, `node ${opts.id}`)
    await requireNodeRecord(ctx, opts)
    const instance = randomUUID()
    // Before anything is written: a second process with this id must change nothing. The
    // claim itself (publishAlive) compares on the revision judged here, and judges again if
    // it changed meanwhile, for starters racing.
    // A holder that was shutting down closes its listener just after giving up the key: a restart on its port may wait for it.
    let holderStopped = false
    const judged = await resolveIdentityClaim(ctx, {node: opts.id, instance, leaseTtlSeconds: opts.leaseTtlSeconds, log: opts.log, abort, onAbort: () => new StartAborted(), onHolderStopped: () => (holderStopped = true)})
    throwIfAborted(abort)
    // A dir without a database is new: judged here, before anything makes it (a refused start
    // on a mistyped --data-dir leaves no dir behind). A dir that exists is judged once it is
    // open (its id is in it), and either is judged again by the claim (publishAlive).
    const newDir = !hasDatabase(opts.dataDir)
    if (newDir) await guardDataDir(ctx, dataDirGuard(opts))
    // The listener opens before the data dir: a taken --listen port creates nothing on disk.
    // Until the API exists it answers as a starting node (startingHandler).
    let handler: (req: IncomingMessage, res: ServerResponse) => void = startingHandler(opts.id, instance)
    const server = createDataPlaneServer(
      {tls: opts.tls, clientCertificates: 'require', keepAliveTimeout: 65_000, headersTimeout: 15_000, requestTimeout: 120_000, onRefused: (reason, remote) => opts.log.warn('refused a connection', {reason, remote})},
      (req, res) => handler(req, res),
    )
    const advertised = await listen(server, opts, holderStopped ? PORT_RELEASE_WAIT_MS : 0)
    try {
      throwIfAborted(abort)
      // Before anything in the dir is made or opened, after the checks that may refuse a new
      // dir (so a refused start on a mistyped --data-dir still leaves no dir behind). Always
      // tried for a while: a holder that stopped releases the lock last, a moment after its
      // alive/<id> is gone, so a starter that found the id free may still meet it; a frozen
      // holder keeps it past the wait and is refused.
      const dirLock = await lockDataDir(opts.dataDir, DIR_LOCK_WAIT_MS)
      // Judged again under the lock: a process that held the dir meanwhile may have made its database.
      const stillNew = newDir && !hasDatabase(opts.dataDir)
      // open releases the lock when it fails, once the storage is closed.
      return await StorageNode.open(ctx, opts, abort, {meta, instance, judged, server, advertised, newDir: stillNew, dirLock, serve: (h) => (handler = h)})
    } catch (err) {
      server.close()
      server.closeAllConnections()
      throw err
    }
  }

  /** open is {@link start} once the node id is its to claim and its listener is open. */
  private static async open(ctx: ServiceContext, opts: StorageNodeOptions, abort: AbortSignal | undefined, started: {meta: Awaited<ReturnType<typeof getMeta>>; instance: string; judged: bigint; server: Server; advertised: string; newDir: boolean; dirLock: DataDirLock; serve: (h: (req: IncomingMessage, res: ServerResponse) => void) => void}): Promise<StorageNode> {
    const {meta, instance, server} = started
    let engine: StorageEngine
    // Made below, once the API it reads shard figures from exists; commits before that are not timed.
    let metrics: NodeMetrics | undefined
    // The writer can fail before the node exists (it opens its connection in its thread).
    const storageFailed = new StorageFailure()
    // Made once the engine has made the data dir; the engine asks it when a drop finds no room.
    let reserve: DiskReserve | undefined
    // Made once the engine is open; counts the commits that call for a new write mark.
    let marks: WriteMarkPublisher | undefined
    try {
      engine = StorageEngine.open({dir: opts.dataDir, nodeId: opts.id, clusterUid: meta.value.uid, tombstoneGraceMs: opts.tombstoneGraceMs, maxClockOffsetMs: opts.maxClockOffsetMs, synchronous: opts.synchronous, onWriterFailed: (err) => storageFailed.report(err), onStorageFull: (err) => logStorageFull(opts.log, err), onFreeingFull: (what, checkpointed) => (reserve ? reserve.freeingFull(what, checkpointed) : Promise.resolve(fullRetry(0, checkpointed))), onCommit: (kind, seconds) => {
        metrics?.committed(kind, seconds)
        marks?.committed()
      }, onWalSync: (file, seconds) => metrics?.backgroundSynced(file, seconds), onWalWait: (outcome, seconds) => metrics?.walWaited(outcome, seconds)})
    } catch (err) {
      started.dirLock.release()
      if (err instanceof ForeignClusterError) throw new UserError('BAD_INPUT', err.message, `empty ${opts.dataDir} (its data must not merge into the new cluster) or pass another --data-dir`, {cause: err})
      throw new UserError('BAD_INPUT', `cannot open data dir ${opts.dataDir}: ${errorMessage(err)}`, 'pass a writable --data-dir that belongs to this node id', {cause: err})
    }
    try {
      if (!started.newDir) await guardDataDir(ctx, dataDirGuard(opts, engine))
      const diskReserve = (reserve = new DiskReserve({dir: opts.dataDir, setting: opts.diskReserve ?? 'auto', log: opts.log, spending: () => engine.spendingReserve()}))
      await diskReserve.start()
      const token = await resolveToken(ctx, opts.token)
      let node: StorageNode | undefined
      // A change of the replicas the node holds is published at once (paced), not at the next tick.
      const map = new NodeShardView(ctx, opts.id, (problem) => opts.log.warn('ignored a corrupt shard record', {problem}), () => node?.replicasMayHaveChanged())
      const meter = new LoadMeter(Date.now())
      const maxOffsetMs = opts.maxClockOffsetMs ?? DEFAULT_MAX_CLOCK_OFFSET_MS
      const clock = new ClockMonitor(ctx, {
        self: `node:${opts.id}`,
        maxOffsetMs,
        onChange: (v) => (v.ok ? opts.log.info('clock back within bounds: taking writes again', {clockOffsetMs: v.offsetMs}) : opts.log.warn('clock out of bounds: refusing writes', {reason: v.reason, clockOffsetMs: v.offsetMs})),
      })
      const rangeGate = new RangeWriteGate()
      // One view of the moves for the node's three readers (movesView.ts: its freshness rule): the sweep (a pass that found
      // data of a range the node holds no role for: a move naming this node may need its copy), anti-entropy's purge hold,
      // and the reads of a copy a move keeps here outside the shard's map (moveCopyHolds.ts keptCopyRefusal).
      const movesView = new MovesView({read: () => readMoves(ctx), now: Date.now, maxAgeMs: MOVES_VIEW_MAX_AGE_MS})
      const moves = async (atLeast: bigint, maxAgeMs: number) => unfinishedMovesOf(await movesView.moves(atLeast, Math.min(maxAgeMs, MOVES_VIEW_MAX_AGE_MS)), opts.id)
      const sweeper = new OrphanSweeper({nodeId: opts.id, map, storage: engine, gate: rangeGate, log: opts.log, graceMs: opts.orphanGraceMs ?? 600_000, now: Date.now, moves})
      // Copies pull from peers with the cluster token, over their own pools (not the router's).
      const copyPeers = new NodeClients({token, timeoutMs: 10_000})
      // Their streams are received in the copy receive thread, unless SHARDCTL_COPY_RECEIVE_THREAD=0 (measuring both ways).
      const copyReceiver = wholeNumberEnvValue(process.env, COPY_RECEIVE_THREAD_VARIABLE) === 0 ? undefined : new CopyReceiver({peers: () => copyPeers.peerSettings(), nice: COPY_RECEIVE_THREAD_NICE, slabs: () => engine.copyFrameSlabs()})
      const api: NodeHttpApi = new NodeHttpApi({
        rangeGate,
        copy: {peer: (s) => copyPeers.client({id: s.node, address: s.address}), frames: copyReceiver, throttles: new NodeThrottles(Date.now)},
        clock: {now: Date.now, maxOffsetMs, gate: clock.writeGate, verdict: () => clock.verdict()},
        nodeId: opts.id,
        instance,
        token: Buffer.from(token),
        engine,
        map,
        meter,
        log: opts.log,
        serving: () => node?.serving() ?? false,
        coverWrites: () => (node?.marks ? node.marks.cover() : Promise.reject(new Error('the node is not registered yet'))),
        draining: () => node?.stopping ?? false,
        leaseHeld: () => node?.leaseHeld() ?? false,
        keptCopy: (id, atLeast) => movesView.move(id, atLeast),
        // Read at scrape time from the node's own status (held shards with their sizes).
        reserve: () => ({held: diskReserve.held(), target: diskReserve.target()}),
        metrics: (metrics = new NodeMetrics((): ShardFigure[] => api.status().shards, {tombstones: () => engine.tombstoneCount(), diskReserve: () => diskReserve.held()})),
      })
      started.serve(api.handle)
      node = new StorageNode(ctx, opts, engine, map, meter, api, server, clock, instance)
      node.advertised = started.advertised
      node.judgedAtStart = started.judged
      node.storageFailed = storageFailed
      storageFailed.promise.then((err) => opts.log.error(`storage writer failed: ${errorMessage(err)}; not serving (every write would fail), exiting for a restart`, {error: errorMessage(err)}))
      node.sweeper = sweeper
      node.movesView = movesView
      node.copyPeers = copyPeers
      node.copyReceiver = copyReceiver
      node.reserve = diskReserve
      node.dirLock = started.dirLock
      node.marks = marks = new WriteMarkPublisher({ctx, node: opts.id, engine, claimRevision: () => node?.ownClaimRevision, published: () => node?.markPublishedAtClaim ?? 0})
      await node.boot(abort)
      if (opts.tls) node.followTlsFiles(opts.tls)
      return node
    } catch (err) {
      await engine.close()
      started.dirLock.release()
      throw err
    }
  }

  private async boot(abort: AbortSignal | undefined): Promise<void> {
    this.startAbort = abort
    try {
      throwIfAborted(abort)
      // The registration lists the map too, after it has published alive/<id> (newMembership says why).
      this.membership = this.newMembership()
      await this.membership.start()
      this.aliveWatch = await this.watchOwnAlive()
      throwIfAborted(abort)
      // Before the node serves anything: such a dir may hold values whose deletes were purged since.
      if (this.acceptedEmpty) await this.forgetRestoredValues()
      throwIfAborted(abort)
      this.registered = true
      // At once, not at the first tick: a dir accepted below its published mark (--accept-empty-data) raises its own above it.
      void this.marks?.publish(true).catch((err) => this.opts.log.warn('write mark publish failed', {error: errorMessage(err)}))
      this.startTimers()
      this.clock.start()
      // /healthz says serving from here on. The first stats publish (sizing every held
      // replica, a few etcd puts: about 0.4 s of CPU at 25k replicas) is not needed to serve,
      // so it runs right after, once pending requests (a /healthz probe) had their turn,
      // not awaited; readers treat a node without stats as one that has not published yet.
      // A publish after stop() began does nothing (publishStats checks serving()).
      if (!abort?.aborted) setImmediate(() => void this.publishStats().catch((err) => this.opts.log.warn('stats publish failed', {error: errorMessage(err)})))
      this.opts.log.info('serving', {address: this.advertised, shards: this.map.held().length, mapRevision: this.map.mapRevision().toString()})
      void warnOnEtcdBugs(this.ctx.store, (line) => this.opts.log.warn(line), (line) => this.opts.log.info(line))
    } catch (err) {
      await this.aliveWatch?.close()
      await this.map.stop()
      // Revoked before the listener closes: a starter probing meanwhile must not find it refused while alive/<id> is held.
      await this.membership?.stop()
      this.server.close()
      throw err
    }
  }

  /**
   * followTlsFiles keeps the node on the TLS files it was started with as they rotate
   * (see TlsReloader): new connections to the node get the new certificate and CA bundle,
   * and peer dials (copies, anti-entropy, clock probes) use fresh pools with them.
   */
  private followTlsFiles(tls: TlsMaterial): void {
    this.tlsReloader = new TlsReloader({
      initial: tls,
      pollMs: this.opts.tlsPollMs,
      apply: (next) => {
        reloadServerTls(this.server, next)
        setDefaultClientTls(next)
        this.copyPeers?.renew(next)
      },
      report: (e) => (e.kind === 'reloaded' ? this.opts.log.info('reloaded TLS files', {...e.summary}) : this.opts.log.warn(e.message)),
    })
    this.tlsReloader.start()
  }

  /** address is the advertised `host:port`. */
  address(): string {
    return this.advertised
  }

  /** leaseHeld is true while the node is registered under an etcd lease that may not have expired (see LeasedMembership.held). */
  leaseHeld(): boolean {
    return this.membership?.held() ?? false
  }

  /**
   * serving is true when the node answers data requests (registered, lease held, not stopping,
   * storage writer alive) on a map that reflects every shard change up to its alive/<id>
   * publish (the order of newMembership's registration makes it so; checked here as well, so
   * that no reordering can let the node serve on a map older than a barrier that skipped it).
   */
  serving(): boolean {
    return this.registered && !this.stopping && !this.storageFailed.error && !this.superseded.error && (this.membership?.held() ?? false) && this.map.mapRevision() >= this.claimedAt
  }

  /**
   * storageFailure resolves with the cause once the storage writer thread died or could not
   * open the database (never otherwise). The node stops serving at that moment; its owner
   * should stop it and exit non-zero so a supervisor restarts it (see {@link serveNode}).
   */
  storageFailure(): Promise<Error> {
    return this.storageFailed.promise
  }

  /**
   * supersededBy resolves (never otherwise) once the node, re-registering after a lapsed
   * lease, found its id claimed by another process: it no longer serves nor tries to; its
   * owner should stop it and exit (see {@link runUntilStopped}).
   */
  supersededBy(): Promise<Error> {
    return this.superseded.promise
  }

  /**
   * recordUpdate reads the node's record (added before: see requireNodeRecord) and returns it
   * brought up to date with the address, zone and capacity flags and this data dir's id
   * (`next` undefined: already so), with the dir id it names (readRecordedDataDir: the record's,
   * else claims/<id>'s), and the claims/<id> of this process (always new: its instance is).
   * Throws NOT_FOUND when the node was removed meanwhile.
   */
  private async recordUpdate(): Promise<{modRevision: bigint; claimModRevision: bigint; recordedDataDir: string | undefined; published: NodeMark | undefined; next: string | undefined; claim: string}> {
    const {ctx, opts} = this
    const read = await readRecordedDataDir(ctx, opts.id)
    const n = read.record
    const dataDirId = this.engine.dataDirId()
    const next = NodeSchema.parse({...n, address: this.advertised, zone: opts.zone ?? n.zone, capacity: opts.capacity ? {...n.capacity, ...opts.capacity} : n.capacity, dataDirId})
    const claim = JSON.stringify(NodeClaimSchema.parse({node: opts.id, dataDirId, instance: this.instance}))
    return {modRevision: read.recordModRevision, claimModRevision: read.claimModRevision, recordedDataDir: read.recorded, published: read.published, next: JSON.stringify(next) === JSON.stringify(n) ? undefined : JSON.stringify(next), claim}
  }

  /**
   * claimedSince reads claims/<id> when re-registering: its mod revision (0n: absent), which
   * the registration compares on, and throws {@link Superseded} when another process claimed
   * the id since this one did. The check does not rest on alive/<id> or on the watch of it:
   * that process may have stopped since (its alive/<id> gone with its lease), and a watch that
   * comes back after etcd compacted the history only re-reads the key. Retaking the id then
   * served this data dir without the writes that process acknowledged. A claim by a build
   * that writes no claims/<id> is not seen here (only the watch sees it).
   */
  private async claimedSince(): Promise<bigint> {
    const {ctx, opts} = this
    const claim = await ctx.store.getTyped(ctx.keys.claim(opts.id), NodeClaimSchema)
    if (claim && claim.value.instance !== this.instance) {
      throw new Superseded('LOCK_HELD', `node ${opts.id} was registered by another process (instance ${claim.value.instance}, data dir ${claim.value.dataDirId}) after this process's lease lapsed (it was frozen or cut off from etcd); this process stops without serving again, since that process may have acknowledged writes this one's data dir lacks`, `leave node ${opts.id} to that process; if it is gone, restart it (its data dir has those writes), not this one`)
    }
    return claim?.modRevision ?? 0n
  }

  /**
   * newMembership: the node's lease lifecycle. Registering (at start-up, and again after a
   * lapsed lease) publishes the leased alive/<id> and only then lists the shard map, and the
   * node serves only once both are done under a live lease (see {@link serving}).
   *
   * Why in that order: a barrier skips a node without alive/<id> (docs/moves.md), so one that
   * looked before the publish passed without this node, and its shard change committed before
   * it looked. A map listed before the publish may lack that change: with the watch behind (the
   * etcd trouble that cost the lease, a watch not attached yet) the node then served at an epoch
   * the move counted every live replica past, and a router also behind read from it (at rf 1, a
   * released source answered a read with a value its destination had since overwritten:
   * test/integration/node/leaseRejoinBarrier.test.ts). Listed after the publish, the map holds
   * every change such a barrier went by; a barrier that looks later finds alive/<id> and waits
   * for the node (NOT_SERVING until it serves, then its accept).
   */
  private newMembership(): LeasedMembership {
    const log = this.opts.log
    return new LeasedMembership({
      grant: () => grantLease(this.ctx.store, this.opts.leaseTtlSeconds),
      register: async (lease, recovering) => {
        // Superseded is final: a later attempt could find the other process dead and take the id back.
        if (this.superseded.error) throw this.superseded.error
        // Barriers skipped this node while it had no lease (alive/<id> gone): a write it let in
        // before and still commits must land before a copy can read from it again.
        if (recovering && !(await this.api.writesSettled(RECOVERY_WRITES_WAIT_MS))) throw new Error(`writes let in before the lease was lost are still committing after ${RECOVERY_WRITES_WAIT_MS} ms`)
        try {
          await this.publishAlive(lease, recovering)
        } catch (err) {
          if (err instanceof Superseded && !this.superseded.error) {
            log.error(`${err.message}; stopping`)
            this.superseded.report(err)
          }
          throw err
        }
        // Lists at a revision at or above the publish, and (re)starts the watch from there.
        await this.map.start()
        // Deleted while the map was listed: membership.lose ignores a registration not complete yet, so fail this one (retried).
        if (aliveDeletedSince(this.aliveDeletedAt, this.claimedAt)) throw new Error(`alive/${this.opts.id} was deleted while this process registered`)
      },
      onLost: (err) => {
        if (!this.stopping) log.warn('etcd lease lost or alive key deleted; not serving until re-registered', {error: errorMessage(err)})
      },
      onRecovered: (attempts) => log.info('re-registered after lease loss', {attempts, mapRevision: this.map.mapRevision().toString()}),
      onRetry: (err, delayMs) => log.warn('re-registration failed; retrying', {error: errorMessage(err), delayMs}),
    })
  }

  /**
   * watchOwnAlive follows alive/<id> from this process's claim: another process's value there
   * means the id was taken over while this one served it (a second starter misjudged it dead:
   * say its advertised address refuses connections from where that starter runs, as a host
   * name mapped to 127.0.1.1 in /etc/hosts does). Nothing else would tell it: its lease is still
   * held, so it would go on accepting writes while routers, barriers and copies go to the other
   * one. It stops as superseded instead (see {@link runUntilStopped}).
   *
   * A delete of the key after this process's latest claim, under a lease the node still holds
   * (`etcdctl del alive/<id>`, a cleanup script), loses the registration: barriers skip a node
   * without alive/<id> (docs/moves.md), so one serving on would take writes and answer reads at
   * an epoch a move counted every live replica past (at rf 1 a write acknowledged on a source
   * after the verification compared it, lost at cleanup: test/integration/node/aliveDeleted.test.ts).
   * Until session 39 only a put counted. The node stops serving at once (a write committing
   * from then on is answered NOT_SERVING) and registers again as after a lapsed lease
   * (LeasedMembership.lose: wait for the writes let in before, publish, list the map after).
   */
  private async watchOwnAlive(): Promise<Watch> {
    const {ctx, opts} = this
    const key = ctx.keys.alive(opts.id)
    const judge = (value: string, modRevision: bigint) => {
      let instance: string | undefined
      try {
        instance = AliveSchema.safeParse(JSON.parse(value)).data?.instance
      } catch {
        instance = undefined
      }
      if (instance === this.instance || this.superseded.error || this.stopping) return
      const holder = readableHolder(value)
      const err = new Superseded('LOCK_HELD', `node ${opts.id} is served by another process now in cluster "${ctx.cluster}": ${holder} wrote alive/${opts.id} over this process's claim (revision ${modRevision}: it judged this one gone, or this one was frozen or cut off past its lease); this process stops rather than serve beside it`, `find out why that process judged this one gone (its --advertise address must reach this process from that host too), stop one of the two, and restart the one whose data dir should serve node ${opts.id}`)
      opts.log.error(`${err.message}; stopping`)
      this.superseded.report(err)
    }
    const deleted = (revision: bigint) => {
      if (revision > this.aliveDeletedAt) this.aliveDeletedAt = revision
      if (!aliveDeletedSince(revision, this.claimedAt) || this.superseded.error || this.stopping) return
      const lease = this.membership?.lease()
      // Ignored unless that lease's registration is complete and not lost (a lapse's own delete, one in progress: checked in register).
      if (lease) this.membership?.lose(lease, new Error(`alive/${opts.id} was deleted (revision ${revision}) under this process's live lease: barriers skip the node from then on`))
    }
    const reread = async () => {
      const {items, revision} = await ctx.store.list(key)
      const own = items.find((kv) => kv.key === key)
      if (own) judge(own.value, own.modRevision)
      // Absent at a listing past the latest claim: deleted meanwhile (its event compacted away).
      else deleted(revision)
      return revision
    }
    return ctx.store.watch(key, {
      fromRevision: this.claimedAt,
      // The prefix also covers alive/<id>0...: only this key counts.
      onEvent: (ev) => {
        if (ev.key !== key) return
        if (ev.type === 'put') judge(ev.value, ev.modRevision)
        else deleted(ev.modRevision)
      },
      resync: reread,
    })
  }

  /**
   * publishAlive claims alive/<id> under `lease`, only while no other process serves the id
   * (resolveIdentityClaim: else it throws LOCK_HELD; when re-registering, LeasedMembership
   * retries it with backoff, the node not serving meanwhile). The put compares on the key as
   * judged, so of two processes claiming at once one wins and the other judges again. The
   * first registration writes the node record (address, zone, capacity, data dir id) in the
   * same transaction: a refused process never rewrites it. The first registration refuses a
   * data dir that is not the node's while it holds replicas (judgeDataDir: BAD_INPUT).
   */
  private async publishAlive(lease: LeaseHandle, recovering: boolean): Promise<void> {
    const {ctx, opts} = this
    const key = ctx.keys.alive(opts.id)
    const alive: Alive = {node: opts.id, address: this.advertised, pid: process.pid, startedAt: ctx.clock().toISOString(), tombstoneGraceMs: opts.tombstoneGraceMs, instance: this.instance, leaseTtlSeconds: opts.leaseTtlSeconds}
    // Its waits end on a signal: during start-up StartAborted (nothing stays registered), later at stop().
    const abort = AbortSignal.any([this.stopAbort.signal, ...(this.startAbort ? [this.startAbort] : [])])
    for (let attempt = 0; attempt < 10; attempt++) {
      // The first registration compares on the key as start() judged it: if it changed since
      // (another starter claimed it), the put fails and the key is judged afresh below.
      const judged = attempt === 0 && !recovering ? this.judgedAtStart : undefined
      const expected = judged ?? (await resolveIdentityClaim(ctx, {node: opts.id, instance: this.instance, leaseTtlSeconds: opts.leaseTtlSeconds, log: opts.log, recovering, abort, onAbort: () => (recovering ? new Error('the node is stopping') : new StartAborted())}))
      const record = recovering ? undefined : await this.recordUpdate()
      const claimedAt = record ? record.claimModRevision : await this.claimedSince()
      // The data dir, judged against the record read just now, after the id was judged free
      // (judgeDataDir says why the map needs no compare of its own): start() judged it
      // before, but another process may have registered the id with another dir since.
      const verdict = record ? await judgeDataDir(ctx, dataDirGuard(opts, this.engine), record.recordedDataDir, record.published) : undefined
      if (verdict?.kind === 'accept-empty') opts.log.warn(verdict.warning, {dataDir: opts.dataDir})
      if (verdict?.kind === 'new') opts.log.info('serving from a new data dir: the node holds no replicas', {dataDir: opts.dataDir})
      if (verdict?.kind === 'behind') opts.log.info('serving from a data dir older than the write mark the node published for it: the node holds no replicas', {dataDir: opts.dataDir})
      const done = await ctx.store.commit({
        // claims/<id> is compared on either way: a claim by another process meanwhile fails the put, and is judged on the next attempt.
        compares: [{key, modRevision: expected}, {key: ctx.keys.claim(opts.id), modRevision: claimedAt}, ...(record ? [{key: ctx.keys.node(opts.id), modRevision: record.modRevision}] : [])],
        puts: [{key, value: JSON.stringify(alive), lease: lease.id}, ...(record ? [{key: ctx.keys.claim(opts.id), value: record.claim}] : []), ...(record?.next ? [{key: ctx.keys.node(opts.id), value: record.next}] : [])],
      })
      if (done === undefined) continue
      this.claimedAt = done
      if (verdict?.kind === 'accept-empty') this.acceptedEmpty = true
      // At start-up the transaction wrote claims/<id>; re-registering, claimedSince found it this process's (0n: absent, the node was removed: no marks).
      const ownClaim = record ? done : claimedAt
      this.ownClaimRevision = ownClaim === 0n ? undefined : ownClaim
      if (record?.published) this.markPublishedAtClaim = Math.max(this.markPublishedAtClaim, record.published.mark)
      if (record?.next) opts.log.info('updated node record', {address: this.advertised})
      return
    }
    throw new UserError('CONFLICT', `alive/${opts.id} or the record of node ${opts.id} kept changing while this process registered; gave up after 10 attempts`, 'check that only one process runs this --id, then start it again')
  }

  /**
   * forgetRestoredValues deletes the values older than the node's clock minus its grace in the
   * ranges of its held shards that other replicas hold too (restoredDirRanges.ts says why),
   * and their gc floors, so that repair brings the live ones back; logs what it deleted.
   */
  private async forgetRestoredValues(): Promise<void> {
    const ranges = restoredDirRanges(this.opts.id, this.map.held())
    if (ranges.length === 0) return
    const before = this.engine.staleFloor()
    const deleted = await this.engine.forgetValuesBefore(ranges, before)
    this.opts.log.warn(`forgot ${deleted} value(s) older than the tombstone grace in ${ranges.length} shard range(s) this dir was accepted for (--accept-empty-data): deletes purged since the dir was current must not come back; \`shardctl repair\` copies the live ones back from the other replicas`, {dataDir: this.opts.dataDir, deleted, before})
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms)
      t.unref()
    })
  }

  private startTimers(): void {
    // A task failing every interval for one cause (a full disk, etcd out of reach) logs its
    // first failure, a changed reason, a reminder a minute, and its recovery (FailureStreak).
    const every = (task: string, ms: number, fn: () => Promise<void> | void) => {
      const streak = new FailureStreak()
      const t = setInterval(() => {
        void Promise.resolve()
          .then(fn)
          .then(
            () => {
              const line = streak.succeeded()
              if (line) this.opts.log.info(`periodic task ${task} works again`, {task, failures: line.failures})
            },
            (err) => {
              const error = errorMessage(err)
              const line = streak.failed(error, Date.now())
              if (line) this.opts.log.warn(`periodic task ${task} failed`, {task, error, failures: line.failures, ...(line.suppressed > 0 ? {notLogged: line.suppressed} : {})})
            },
          )
      }, ms)
      t.unref()
      this.timers.push(t)
    }
    every('load meter', 1000, () => this.meter.tick(Date.now()))
    // Orphaned ranges: sweep a few times per grace (only while serving: the map is current then).
    every('orphan sweep', Math.max(500, Math.min(30_000, (this.opts.orphanGraceMs ?? 600_000) / 4)), async () => {
      if (this.serving()) await this.sweeper?.sweep()
    })
    every('stats publish', this.opts.statsIntervalMs, () => this.publishStats())
    // The write mark follows the stats: a dir copied back from before the last publish is refused at its next start.
    every('write mark publish', this.opts.statsIntervalMs, async () => {
      if (this.serving()) await this.marks?.publish()
    })
    // statfs is cheap: the reserve comes back within seconds of there being room for it.
    every('disk reserve', Math.min(RESERVE_CHECK_MS, this.opts.statsIntervalMs), () => this.reserve?.maintain())
    every('anti-entropy', antiEntropyIntervalMs(this.opts.tombstoneGraceMs), () => this.antiEntropy())
  }

  /**
   * antiEntropy repairs, and then collects the tombstones of, the shards this node leads
   * (it is their first replica and no move runs on them; one leader per shard, so the
   * replicas do not all run it). It is
   * the only way tombstones are purged: see StorageEngine.purgeTombstones for why that is
   * safe. Skipped while a previous run is still going or the node is not serving.
   */
  private async antiEntropy(): Promise<void> {
    if (this.antiEntropyRunning || !this.serving()) return
    const led = this.map
      .held()
      // Shards in a move are the executor's to verify; they cannot be purged anyway (see repairShards).
      .filter(({shard}) => shard.replicas.every((r) => r.role === 'voter') && shard.replicas[0]?.node === this.opts.id)
      .map(({shard}) => shard.id)
    if (led.length === 0) return
    this.antiEntropyRunning = true
    try {
      const report = await repairShards(this.ctx, {shards: led, rounds: 2, purge: true, maxClockOffsetMs: this.opts.maxClockOffsetMs, timeoutMs: 5000, moves: this.movesView})
      const purged = report.shards.reduce((n, s) => n + s.purged, 0)
      if (report.recordsFixed > 0 || purged > 0) this.opts.log.info('anti-entropy', {shards: led.length, repaired: report.recordsFixed, purgedTombstones: purged})
      // Nodes with different (or unpublished) graces keep every tombstone: say so, once per change, since only the operator can fix it.
      const refusal = report.shards.find((s) => s.gc?.includes('--tombstone-grace'))?.gc
      if (refusal !== this.graceWarning && refusal) this.opts.log.warn('tombstones are not purged', {reason: refusal})
      this.graceWarning = refusal
    } finally {
      this.antiEntropyRunning = false
    }
  }

  /**
   * publishFinalMark publishes, on a graceful stop, a write mark raised after every write the
   * node acknowledged (only when it committed anything since the last publish). Without it a
   * snapshot of the dir taken after the last periodic publish, restored after a planned
   * shutdown, held the published mark and was served as current, lacking the writes
   * acknowledged since (rf 1: lost; test/integration/node/restoredDirGracefulStop.test.ts).
   * Bounded by FINAL_MARK_WAIT_MS: a stop with etcd away still ends, with a warning (the
   * window of a crash stays: src/node/README.md).
   */
  private async publishFinalMark(): Promise<void> {
    if (!this.marks) return
    const published = this.marks.publish().then(
      () => 'published' as const,
      (err: unknown) => errorMessage(err),
    )
    const outcome = await Promise.race([published, this.sleep(FINAL_MARK_WAIT_MS).then(() => `no answer within ${FINAL_MARK_WAIT_MS} ms`)])
    if (outcome !== 'published') this.opts.log.warn('final write mark not published: a snapshot of this dir taken since the last publish will not be told apart from it', {error: outcome})
  }

  /**
   * publishStats writes the leased `loads/<id>/<page>` records (per-replica load, each page
   * far below etcd's request limit whatever the node holds) and the small `stats/<id>`
   * summary (see putNodeStats). Skipped while not serving (the lease is gone) or while the
   * previous publish runs.
   */
  private async publishStats(): Promise<void> {
    const lease = this.membership?.lease()
    if (!this.serving() || !lease || this.statsPublishing) return
    this.statsPublishing = true
    const startedAt = Date.now()
    try {
      const clock = this.clock.verdict()
      const held = this.map.held()
      const totals = this.engine.ackedRangeTotalsMany(held.map(({shard}) => shard.range))
      const stats: NodeStats = {
        node: this.opts.id,
        at: this.ctx.clock().toISOString(),
        clockOffsetMs: clock.offsetMs,
        clockOk: clock.ok,
        shards: withKeySamples(
          held.map(({shard}, i) => {
            const t = totals[i] ?? {keys: 0, bytes: 0}
            return {shard: shard.id, ...this.meter.rate(shard.id), bytes: t.bytes, keys: t.keys}
          }),
          (shard) => this.meter.keySample(shard),
        ),
      }
      // A replica given away starts a new load series if it ever comes back.
      this.meter.retain(new Set(held.map(({shard}) => shard.id)))
      const pages = await putNodeStats(this.ctx, stats, lease.id, this.publishedLease === lease.id ? this.publishedPages : 0)
      this.publishedLease = lease.id
      this.publishedPages = pages
      this.publishedShards = held.map(({shard}) => shard.id)
    } finally {
      this.lastPublish = {startedAt, tookMs: Date.now() - startedAt}
      this.statsPublishing = false
      if (this.checkAfterPublish) {
        this.checkAfterPublish = false
        this.replicasMayHaveChanged()
      }
    }
  }

  /**
   * replicasMayHaveChanged runs after the shard map changed. Once the pacing lets it
   * (statsPublishPacing.ts) the node publishes again if the replicas it holds are not the ones
   * its last publish named: stats naming a replica the map took away (a drain's last move
   * done, its range dropped) would otherwise stand until the next `--stats-interval` tick.
   */
  private replicasMayHaveChanged(): void {
    if (this.earlyPublish || this.stopping) return
    const delayMs = Math.max(0, earlyPublishAt(this.lastPublish, this.opts.statsIntervalMs) - Date.now())
    this.earlyPublish = setTimeout(() => {
      this.earlyPublish = undefined
      if (this.statsPublishing) this.checkAfterPublish = true
      else if (!sameShards(this.map.held().map(({shard}) => shard.id), this.publishedShards)) {
        void this.publishStats().catch((err) => this.opts.log.warn('stats publish failed', {error: errorMessage(err)}))
      }
    }, delayMs)
    this.earlyPublish.unref()
  }

  /**
   * stop shuts down gracefully: answer new requests with 503 NOT_SERVING and `connection:
   * close` (/healthz with `stopping`), let in-flight requests finish until the deadline, close
   * every connection, commit and close storage, stop the watch, revoke the lease (deleting
   * alive/<id> and stats/<id>) and only then close the listener: while alive/<id> is held, a
   * second process for this id probing it finds it answering, never refused. Idempotent.
   */
  stop(reason: string): Promise<StopSummary> {
    this.stopped ??= (async () => {
      this.stopping = true
      this.stopAbort.abort()
      this.opts.log.info('shutting down', {reason, inflight: this.api.activeRequests()})
      for (const t of this.timers) clearInterval(t)
      clearTimeout(this.earlyPublish)
      this.tlsReloader?.stop()
      // Copies stop first: each stops between frames, its cursor durable; the executor re-issues them.
      await this.api.copies?.close()
      await this.copyReceiver?.close()
      await this.copyPeers?.close()
      await this.clock.stop()
      // The listener stays open until the lease is revoked: /healthz answers `stopping` (a
      // second process for this id waits for the key instead of finding the port refused and
      // taking the id over while this one still acknowledges its in-flight writes); data
      // requests get 503 NOT_SERVING with `connection: close`.
      this.server.closeIdleConnections()
      const deadline = Date.now() + this.opts.shutdownTimeoutMs
      while (this.api.activeRequests() > 0 && Date.now() < deadline) await this.sleep(10)
      const abandoned = this.api.activeRequests()
      // No write is acknowledged past here: requests still running lose their connection.
      this.server.closeAllConnections()
      await this.publishFinalMark()
      await this.engine.close()
      // At once, each bounded (WATCH_CANCEL_WAIT_MS, REVOKE_WAIT_MS): an etcd that does not
      // answer delays the stop by about 3 s, not until gRPC drops the connection.
      await Promise.all([this.aliveWatch?.close(), this.map.stop(), this.membership?.stop()])
      const closed = new Promise<void>((resolve) => this.server.close(() => resolve()))
      this.server.closeAllConnections()
      await closed
      // Last: no work of this node touches the dir any more (the engine closed above). A stop
      // that failed before here keeps the lock until the process exits.
      this.dirLock?.release()
      this.opts.log.info('stopped', {reason, abandoned})
      return {node: this.opts.id, address: this.advertised, reason, abandoned}
    })()
    return this.stopped
  }
}

/**
 * requireNodeRecord refuses to serve a node id the cluster does not have: `node serve` runs
 * a node added by `cluster init` or `node add`, so a typo in --id (or a node removed since)
 * is not registered as a new, empty node the next plan would fill. Throws UserError
 * NOT_FOUND naming the id and the `node add` that would make it one.
 */
async function requireNodeRecord(ctx: ServiceContext, opts: Pick<StorageNodeOptions, 'id' | 'advertise' | 'listenHost' | 'listenPort' | 'zone'>): Promise<void> {
  if (await ctx.store.get(ctx.keys.node(opts.id))) return
  // Port 0 (any free port) is no address a record can hold: the hint asks for the one the node is reached at.
  const address = opts.advertise ?? (opts.listenPort === 0 ? 'HOST:PORT' : formatListen({host: opts.listenHost, port: opts.listenPort}))
  throw new UserError('NOT_FOUND', `node ${opts.id} is not in cluster "${ctx.cluster}": node serve runs a node the cluster already has (a typo in --id, or a removed node?)`, `add it first with \`shardctl node add ${opts.id} --address ${address}${opts.zone ? ` --zone ${opts.zone}` : ''}\`, or see \`shardctl node list\``)
}

/** dataDirGuard: the options of judgeDataDir for this node and the dir `engine` has open (none: a new dir). */
function dataDirGuard(opts: Pick<StorageNodeOptions, 'id' | 'dataDir' | 'acceptEmptyData'>, engine?: Pick<StorageEngine, 'dataDirId' | 'writeMark'>): DataDirGuardOptions {
  return {node: opts.id, dir: opts.dataDir, local: engine?.dataDirId(), localMark: engine?.writeMark(), acceptEmpty: opts.acceptEmptyData}
}

/** StartAborted: {@link StorageNode.start} gave up because its abort signal fired; it left nothing registered. */
export class StartAborted extends Error {
  constructor() {
    super('node start-up aborted')
    this.name = 'StartAborted'
  }
}

/** PORT_RELEASE_WAIT_MS: how long a taken --listen port is tried again after the holder of this node id stopped (it closes its listener just after). */
const PORT_RELEASE_WAIT_MS = 3000

/** DIR_LOCK_WAIT_MS: how long the data dir's lock is tried before a start is refused (LOCK_HELD): a stopping holder releases it as it exits. */
const DIR_LOCK_WAIT_MS = 3000

/**
 * listen opens `server` on --listen and returns the advertised address (BAD_INPUT when the
 * address is taken or unusable). A taken address is tried again for up to `inUseWaitMs`.
 */
async function listen(server: Server, opts: Pick<StorageNodeOptions, 'listenHost' | 'listenPort' | 'advertise'>, inUseWaitMs = 0): Promise<string> {
  return retryFor(() => listenOnce(server, opts), (err) => isUserError(err, 'BAD_INPUT') && (err.cause as NodeJS.ErrnoException | undefined)?.code === 'EADDRINUSE', inUseWaitMs)
}

async function listenOnce(server: Server, opts: Pick<StorageNodeOptions, 'listenHost' | 'listenPort' | 'advertise'>): Promise<string> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(new UserError('BAD_INPUT', `cannot listen on ${opts.listenHost}:${opts.listenPort}: ${err.code ?? err.message}`, 'pick a free --listen HOST:PORT', {cause: err}))
    server.once('error', onError)
    server.listen(opts.listenPort, opts.listenHost, () => {
      server.off('error', onError)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return opts.advertise ?? `${opts.listenHost.includes(':') ? `[${opts.listenHost}]` : opts.listenHost}:${port}`
}

function throwIfAborted(abort: AbortSignal | undefined): void {
  if (abort?.aborted) throw new StartAborted()
}

async function resolveToken(ctx: ServiceContext, given: string | undefined): Promise<string> {
  if (given === undefined) return loadClusterToken(ctx)
  if (given.length < 16) throw new UserError('BAD_INPUT', 'the cluster token must be at least 16 characters', 'omit --token to use (or create) the one in etcd')
  const existing = await ctx.store.get(ctx.keys.token)
  if (!existing) {
    try {
      await ctx.store.create(ctx.keys.token, given)
      return given
    } catch (err) {
      if (!isUserError(err, 'ALREADY_EXISTS')) throw err
      return resolveToken(ctx, given)
    }
  }
  if (existing.value !== given) throw new UserError('BAD_INPUT', '--token does not match the cluster token stored in etcd', 'omit --token to use the stored one')
  return given
}

/**
 * serveNode runs a storage node until SIGTERM or SIGINT, then stops it gracefully and
 * returns how the shutdown went. The signals are watched from before start-up: one that
 * arrives while the node starts aborts the start (nothing stays registered: a lease already
 * granted is revoked) or, once the node is registered, stops it as soon as start returns;
 * either way the summary names the signal (exit 0). A second signal exits at once (code 1).
 * `given` is the caller's watch (`node serve` keeps it through its exit linger); without it
 * one is installed here and removed when the node has stopped. `onServing` runs once the node
 * serves, with the address it registered (the bound port when --listen asked for port 0), so
 * `node serve` can print its ready line.
 */
export async function serveNode(ctx: ServiceContext, opts: StorageNodeOptions, given?: StopSignals, onServing?: (address: string) => void): Promise<StopSummary> {
  // Anti-entropy and clock probes dial peers: with this node's certificate when it has one.
  setDefaultClientTls(opts.tls)
  const signals = given ?? new StopSignals()
  try {
    let node: StorageNode
    try {
      node = await StorageNode.start(ctx, opts, signals.abort)
    } catch (err) {
      if (!(err instanceof StartAborted)) throw err
      const reason = await signals.signalled
      opts.log.info('stopped during start-up', {reason})
      return {node: opts.id, address: '', reason, abandoned: 0}
    }
    onServing?.(node.address())
    return await runUntilStopped(node, opts, signals)
  } finally {
    // `given` is the caller's: it keeps them through its exit linger (StopSignals.stopped).
    if (!given) signals.dispose()
  }
}

/**
 * runUntilStopped serves with a started node until SIGTERM or SIGINT (then stops it
 * gracefully and returns how the shutdown went) or until its storage writer fails: then it
 * stops the node and throws UserError NOT_SERVING (exit 15), so a supervisor restarts the
 * process; or until it was superseded (re-registering after a lapsed lease, it found its id
 * claimed by another process): then it stops and throws that UserError LOCK_HELD (exit 8).
 * A second signal during shutdown exits at once (code 1). `signals` is the watch
 * installed before start-up (a signal already received stops the node at once); without it
 * one is installed here and removed when the node has stopped.
 */
export async function runUntilStopped(node: StorageNode, opts: Pick<StorageNodeOptions, 'id' | 'dataDir'>, signals?: StopSignals): Promise<StopSummary> {
  const watch = signals ?? new StopSignals()
  try {
    const ended = await Promise.race([watch.signalled, node.storageFailure(), node.supersededBy().then((err) => ({superseded: err}))])
    if (typeof ended === 'string') return await node.stop(ended)
    watch.stoppingForAnotherReason()
    if ('superseded' in ended) {
      await node.stop('superseded by another process')
      throw ended.superseded
    }
    await node.stop('storage writer failed')
    throw new UserError('NOT_SERVING', `node ${opts.id} stopped: its storage writer failed (${errorMessage(ended)})`, `check ${opts.dataDir} (disk space, permissions, the log) and restart the node`, {cause: ended})
  } finally {
    if (!signals) watch.dispose()
  }
}

/** readableHolder names the writer of an alive value for a message: pid and address, or that it is unreadable. */
function readableHolder(value: string): string {
  try {
    const a = AliveSchema.parse(JSON.parse(value))
    return `pid ${a.pid} at ${a.address}`
  } catch {
    return 'a process (unreadable alive record)'
  }
}

/**
 * StorageFailure records the first failure of a node's storage writer (or, as `superseded`,
 * the refusal that ends a superseded node): {@link error} is set from then on and
 * {@link promise} resolves with it (it never rejects).
 */
class StorageFailure {
  error: Error | undefined
  readonly promise: Promise<Error>
  private resolve: (err: Error) => void = () => {}

  constructor() {
    this.promise = new Promise((resolve) => (this.resolve = resolve))
  }

  /** report records `err` if it is the first failure. */
  report(err: Error): void {
    if (this.error) return
    this.error = err
    this.resolve(err)
  }
}

/**
 * logStorageFull logs the node's disk filling (`err`: writes are refused from now on, one
 * warning naming the data dir and what to do) and room coming back (`err` undefined): one
 * line each way, not one per refused write, which answers its caller with the same line.
 */
function logStorageFull(log: NodeLog, err: StorageFullError | undefined): void {
  if (err) log.warn(`storage full: ${err.message}`, {dataDir: err.dataDir})
  else log.info('storage has room again: writes commit')
}

/**
 * aliveDeletedSince: a delete of alive/<id> at `deletedAt` removed the claim made at
 * `claimedAt` (a delete at or before it removed an earlier claim's key, which this claim
 * replaced; 0n: no delete seen).
 */
function aliveDeletedSince(deletedAt: bigint, claimedAt: bigint): boolean {
  return claimedAt > 0n && deletedAt > claimedAt
}
