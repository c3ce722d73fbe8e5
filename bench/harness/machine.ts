/** The machine and the version a run measured, printed with every summary and kept in its JSON. */
import { execFileSync } from 'node:child_process'
import { availableParallelism, cpus, totalmem } from 'node:os'
import sharp from 'sharp'

export function machineInfo() {
  return {
    cores: availableParallelism(),
    cpu: cpus()[0]?.model ?? 'unknown',
    memoryGb: Math.round(totalmem() / 2 ** 30),
    node: process.version,
    sharp: sharp.versions.sharp,
    libvips: sharp.versions.vips,
    commit: gitCommit(),
  }
}

/** The commit measured, marked dirty when the tree has changes: figures belong to a version. */
function gitCommit(): string {
  try {
    return execFileSync('git', ['describe', '--always', '--dirty'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
    }).trim()
  } catch {
    return 'unknown'
  }
}
