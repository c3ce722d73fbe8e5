/**
 * Shared by the queue and end-to-end parts: where the outside services are, how to remove what a
 * run left in Redis (its own prefix only), and CPU / peak-RSS figures of other processes from /proc.
 */
import { readdirSync, readFileSync } from 'node:fs'
import { Redis } from 'ioredis'

export const REDIS_URL = process.env.BENCH_REDIS_URL ?? 'redis://127.0.0.1:6379'
export const RABBITMQ_URL = process.env.BENCH_RABBITMQ_URL ?? 'amqp://guest:guest@127.0.0.1:5672/'

/** A run id for names in shared services: time plus randomness, so parallel runs never collide. */
export function runId(): string {
  return `${Date.now().toString(36)}-${Math.random().toString(16).slice(2, 10)}`
}

/** Deletes every key that starts with `prefix` (SCAN MATCH, then DEL): a run's own keys and nothing else. */
export async function deleteRedisKeys(prefix: string): Promise<number> {
  if (!/^pixelflow-(bench-[\w]+|e2e)-[\w-]+/.test(prefix))
    throw new Error(`Refusing to delete keys under ${prefix}: not a bench prefix`)
  const redis = new Redis(REDIS_URL, { lazyConnect: true })
  await redis.connect()
  let deleted = 0
  try {
    let cursor = '0'
    do {
      const [next, keys] = await redis.scan(cursor, 'MATCH', `${prefix}*`, 'COUNT', 1000)
      cursor = next
      if (keys.length > 0) deleted += await redis.del(...keys)
    } while (cursor !== '0')
  } finally {
    redis.disconnect()
  }
  return deleted
}

/** CPU seconds (utime + stime) and peak RSS (VmHWM) of one process, from /proc (Linux). */
export function procFigures(pid: number): { cpuSeconds: number; peakRssMb: number } {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ')
  const kb = /VmHWM:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]
  // utime and stime are fields 14 and 15 of stat, in USER_HZ (100 on Linux).
  return {
    cpuSeconds: (Number(fields[11]) + Number(fields[12])) / 100,
    peakRssMb: Number(kb ?? 0) / 1024,
  }
}

/** CPU seconds of every process named `name` (a broker serving us, and maybe others); null when none or not Linux. */
export function processCpuSeconds(name: string | null): number | null {
  if (!name) return null
  let total = 0
  let found = false
  let pids: string[]
  try {
    pids = readdirSync('/proc').filter((entry) => /^\d+$/.test(entry))
  } catch {
    return null
  }
  for (const pid of pids) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== name) continue
      total += procFigures(Number(pid)).cpuSeconds
      found = true
    } catch {
      // gone meanwhile
    }
  }
  return found ? total : null
}
