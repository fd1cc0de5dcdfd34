import {execFileSync} from 'node:child_process'
import {closeSync, mkdirSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync} from 'node:fs'
import {tmpdir} from 'node:os'
import {join} from 'node:path'

/**
 * TmpfsDisk is a small tmpfs mounted on a fresh temp dir: a disk a test can fill. Its
 * `dataDir` (a dir inside the mount) is what a node is given, so removing the node's dir
 * never meets the mount point. Mounting needs root; {@link mountTmpfs} says why it could not.
 */
export interface TmpfsDisk {
  /** mountPoint is where the tmpfs is mounted; dataDir is a dir inside it for a node. */
  mountPoint: string
  dataDir: string
  /** freeBytes is what the file system has left (statfs). */
  freeBytes(): number
  /** fill writes a ballast file (outside dataDir) until at most `leaveBytes` stay free; returns its size. */
  fill(leaveBytes: number): number
  /** release deletes the ballast (space freed, as an operator would). */
  release(): void
  /** unmount lazily unmounts and removes the mount point (idempotent; call it after the processes using it are gone). */
  unmount(): void
}

/** TmpfsRefusal is why no tmpfs could be mounted (not root, or mount refused): the test is skipped with it. */
export interface TmpfsRefusal {
  refused: string
}

/**
 * mountTmpfs mounts a tmpfs of `sizeMiB` MiB on a new temp dir (`label` names it), or says
 * why it could not. The caller must {@link TmpfsDisk.unmount} in a finally or afterAll.
 */
export function mountTmpfs(label: string, sizeMiB: number): TmpfsDisk | TmpfsRefusal {
  if (process.getuid?.() !== 0) return {refused: 'mounting a tmpfs needs root (uid 0)'}
  const mountPoint = mkdtempSync(join(tmpdir(), `shardctl-${label}-tmpfs-`))
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', mountPoint], {stdio: 'pipe'})
  } catch (err) {
    rmSync(mountPoint, {recursive: true, force: true})
    return {refused: `mount -t tmpfs was refused: ${String((err as {stderr?: Buffer}).stderr ?? err).trim()}`}
  }
  const dataDir = join(mountPoint, 'data')
  mkdirSync(dataDir)
  const ballast = join(mountPoint, 'ballast')
  let mounted = true
  const freeBytes = () => {
    const s = statfsSync(mountPoint)
    return s.bavail * s.bsize
  }
  return {
    mountPoint,
    dataDir,
    freeBytes,
    fill(leaveBytes) {
      const fd = openSync(ballast, 'a')
      let written = 0
      try {
        const chunk = Buffer.alloc(64 * 1024, 0x5a)
        for (let free = freeBytes(); free > leaveBytes; free = freeBytes()) {
          const n = Math.min(chunk.length, free - leaveBytes)
          written += writeSync(fd, chunk, 0, n)
        }
      } finally {
        closeSync(fd)
      }
      return written
    },
    release() {
      rmSync(ballast, {force: true})
    },
    unmount() {
      if (!mounted) return
      mounted = false
      try {
        execFileSync('umount', ['-l', mountPoint], {stdio: 'pipe'})
      } finally {
        rmSync(mountPoint, {recursive: true, force: true})
      }
    },
  }
}

/** isRefusal tells a {@link TmpfsRefusal} from a mounted disk. */
export function isRefusal(d: TmpfsDisk | TmpfsRefusal): d is TmpfsRefusal {
  return 'refused' in d
}
