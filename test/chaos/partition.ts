import {execFileSync} from 'node:child_process'
import {existsSync} from 'node:fs'
import {processAlive} from '../../src/daemon/processAlive.js'

const IPTABLES = ['/usr/sbin/iptables', '/sbin/iptables'].find((p) => existsSync(p)) ?? 'iptables'
const CHAIN_PREFIX = 'SHARDCTL_CHAOS_'

function iptables(...args: string[]): string {
  return execFileSync(IPTABLES, ['-w', '5', ...args], {encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe']})
}

/**
 * Partition drops traffic between chosen loopback addresses with iptables, in a chain of its
 * own (`SHARDCTL_CHAOS_<pid>`, jumped to from OUTPUT: every loopback packet is locally
 * generated, so OUTPUT sees them all). Processes must send from their own 127.x address
 * (see bindSource.cjs). Rules carry a label; {@link dropped} reads their packet counters, so a
 * scenario can prove its cut hit real traffic. The chain is removed by {@link dispose}, at
 * process exit, and by the next run when its owner died. Needs root (CAP_NET_ADMIN).
 */
export class Partition {
  private disposed = false

  private constructor(readonly chain: string) {}

  /** create makes the chain and hooks it into OUTPUT (after removing chains of dead runs). */
  static create(): Partition {
    removeOrphanChains()
    const chain = `${CHAIN_PREFIX}${process.pid}`
    iptables('-N', chain)
    iptables('-I', 'OUTPUT', '1', '-j', chain)
    const p = new Partition(chain)
    process.once('exit', () => p.dispose())
    return p
  }

  /** drop discards every packet from `from` to `to` (one direction), labelled `label`. */
  drop(from: string, to: string, label: string): void {
    iptables('-A', this.chain, '-s', from, '-d', to, '-m', 'comment', '--comment', label, '-j', 'DROP')
  }

  /** count only counts packets from `from` to `to` (they pass), labelled `label`: proof that traffic flowed. */
  count(from: string, to: string, label: string): void {
    iptables('-A', this.chain, '-s', from, '-d', to, '-m', 'comment', '--comment', label, '-j', 'RETURN')
  }

  /** cut drops traffic both ways between `a` and `b`. */
  cut(a: string, b: string, label: string): void {
    this.drop(a, b, label)
    this.drop(b, a, label)
  }

  /** packets sums the packet counters of the rules labelled `label`. */
  packets(label: string): number {
    let total = 0
    for (const line of iptables('-L', this.chain, '-n', '-v', '-x').split('\n')) {
      if (!line.includes(`/* ${label} */`)) continue
      total += Number(line.trim().split(/\s+/)[0] ?? 0)
    }
    return total
  }

  /** heal removes every rule (the chain stays hooked, empty). */
  heal(): void {
    if (!this.disposed) iptables('-F', this.chain)
  }

  /** dispose unhooks and deletes the chain. Idempotent; never throws. */
  dispose(): void {
    if (this.disposed) return
    this.disposed = true
    removeChain(this.chain)
  }
}

function removeChain(chain: string): void {
  for (let i = 0; i < 10; i++) {
    try {
      iptables('-D', 'OUTPUT', '-j', chain)
    } catch {
      break
    }
  }
  for (const args of [['-F', chain], ['-X', chain]]) {
    try {
      iptables(...args)
    } catch {
      // already gone
    }
  }
}

/** removeOrphanChains deletes chains left by runs whose process is gone (a SIGKILLed runner). */
function removeOrphanChains(): void {
  let listing = ''
  try {
    listing = iptables('-S')
  } catch {
    return
  }
  for (const m of listing.matchAll(new RegExp(`^-N (${CHAIN_PREFIX}(\\d+))$`, 'gm'))) {
    if (!processAlive(Number(m[2]))) removeChain(m[1]!)
  }
}

/** partitionsAvailable tells whether iptables can be used here (root and the binary present). */
export function partitionsAvailable(): boolean {
  try {
    iptables('-S', 'OUTPUT')
    return true
  } catch {
    return false
  }
}
