import { parseArgs } from 'node:util'
import { BUCKET_COUNT } from '../domain/bucket.js'
import { redact } from '../metadata/shard-set.js'
import type { ShardedMetadata } from '../metadata/sharded-metadata.js'
import {
  OperationRefused,
  placeOwner,
  planOwnerMove,
  planRebalance,
  type RebalancePlan,
  type ShardStatus,
  shardStatus,
} from '../sharding/operations.js'

export const SHARDS_USAGE = `  shards status [--json]         buckets, rows and bytes per shard, hottest owners, moves in progress
  shards add <url>               migrate a new database (SQLite path or postgres:// URL) and register it
  shards rebalance [--dry-run] [--max-moves N] [--parallel N]
                                 print the plan that evens out buckets across shards, then run it
                                 online (an interrupted run resumes where it stopped)
  shards move --owner <id> --to <shard>
                                 move the owner's bucket (and the few owners sharing it) to a shard
  shards place --owner <id> --bucket <n>
                                 directory strategy: put a new owner in a chosen bucket`

type Out = (line: string) => void

/**
 * `pixelflow shards …`: parses and prints; the operations themselves live in sharding/operations.
 * A refused operation prints its reason and exits 1.
 */
export async function shardsCommand(
  metadata: ShardedMetadata,
  args: string[],
  out: Out,
): Promise<number> {
  try {
    return await dispatch(metadata, args, out)
  } catch (error) {
    if (error instanceof OperationRefused) return fail(out, error.message)
    throw error
  }
}

async function dispatch(metadata: ShardedMetadata, args: string[], out: Out): Promise<number> {
  const options = {
    json: { type: 'boolean' },
    'dry-run': { type: 'boolean' },
    'max-moves': { type: 'string' },
    parallel: { type: 'string' },
    owner: { type: 'string' },
    to: { type: 'string' },
    bucket: { type: 'string' },
  } as const
  const { positionals, values } = parseArgs({ args, options, allowPositionals: true })
  const [action, url] = positionals
  switch (action) {
    case 'status':
      return status(metadata, values.json ?? false, out)
    case 'add':
      if (!url) return usage(out)
      out(
        `Registered shard ${await metadata.addShard(url)} (${redact(url)}), migrated and holding no buckets yet.`,
      )
      out('Run `pixelflow shards rebalance` to give it its share.')
      return 0
    case 'rebalance':
      return rebalance(
        metadata,
        {
          dryRun: values['dry-run'] ?? false,
          maxMoves: count(values['max-moves']),
          parallel: count(values.parallel),
        },
        out,
      )
    case 'move':
      if (!values.owner || values.to === undefined) return usage(out)
      return moveOwner(metadata, values.owner, Number(values.to), out)
    case 'place':
      if (!values.owner || values.bucket === undefined) return usage(out)
      return place(metadata, values.owner, Number(values.bucket), out)
    default:
      return usage(out)
  }
}

async function status(metadata: ShardedMetadata, json: boolean, out: Out): Promise<number> {
  const report = await shardStatus(metadata)
  if (json) {
    const { epoch, strategy, shards, moves } = report
    out(JSON.stringify({ epoch, strategy, shards, moves }, null, 2))
  } else {
    printStatus(report, out)
  }
  return report.moves.some((m) => m.phase === 'failed') ? 1 : 0
}

function printStatus({ epoch, strategy, shards, moves }: ShardStatus, out: Out): void {
  out(
    `Directory epoch ${epoch}, strategy ${strategy.kind}, ${shards.length} shards, ${BUCKET_COUNT} buckets`,
  )
  out(row(['shard', 'buckets', 'rows', 'bytes', 'schema', 'url']))
  for (const s of shards) {
    out(
      row([
        String(s.id),
        String(s.buckets),
        s.stats ? String(s.stats.rows) : 'down',
        s.stats ? bytes(s.stats.bytes) : '-',
        s.stats?.migration ?? '-',
        s.url,
      ]),
    )
  }
  out('Hottest owners:')
  for (const s of shards) {
    const owners = s.stats?.hottestOwners
      .map((o) => `${o.ownerId} (${o.rows} rows, ${bytes(o.bytes)})`)
      .join(', ')
    out(`  shard ${s.id}: ${s.error ? `unavailable: ${s.error}` : owners || 'no images'}`)
  }
  out(
    moves.length === 0
      ? 'No moves in progress.'
      : `${moves.length} moves unfinished (run \`pixelflow shards rebalance\` to resume):`,
  )
  for (const m of moves)
    out(
      `  bucket ${m.bucket}: shard ${m.source} → ${m.target}, ${m.phase}${m.detail ? ` (${m.detail})` : ''}`,
    )
}

interface RebalanceOptions {
  dryRun: boolean
  maxMoves: number | undefined
  parallel: number | undefined
}

async function rebalance(
  metadata: ShardedMetadata,
  options: RebalanceOptions,
  out: Out,
): Promise<number> {
  let done = 0
  const plan = await planRebalance(metadata, {
    ...options,
    onPhase: (_move, phase, step) => {
      if (phase === 'cleanup' && step === 0 && ++done % 50 === 0) out(`  ${done} buckets switched`)
    },
  })
  describePlan(plan, out)
  if (options.dryRun || (plan.moves.length === 0 && plan.unfinished === 0)) return 0
  const started = Date.now()
  const results = await plan.run()
  const failed = results.filter((m) => m.phase === 'failed')
  for (const m of failed) out(`  bucket ${m.bucket} failed: ${m.detail}`)
  const rows = results.reduce((n, m) => n + m.rows_copied, 0)
  out(
    `Moved ${results.length - failed.length} buckets (${rows} rows) in ${((Date.now() - started) / 1000).toFixed(1)} s; directory epoch ${metadata.directory().epoch}.`,
  )
  return failed.length > 0 ? 1 : 0
}

function describePlan({ moves, total, unfinished }: RebalancePlan, out: Out): void {
  if (unfinished > 0) out(`Resuming ${unfinished} unfinished moves first.`)
  if (total === 0) {
    out('The buckets are already balanced: nothing to move.')
    return
  }
  const pairs = new Map<string, number>()
  for (const m of moves)
    pairs.set(`${m.from} → ${m.to}`, (pairs.get(`${m.from} → ${m.to}`) ?? 0) + 1)
  out(
    `Plan: move ${moves.length} of ${BUCKET_COUNT} buckets${moves.length < total ? ` (${total} in the full plan)` : ''}:`,
  )
  for (const [pair, n] of pairs) out(`  shard ${pair}: ${n} buckets`)
}

async function moveOwner(
  metadata: ShardedMetadata,
  ownerId: string,
  target: number,
  out: Out,
): Promise<number> {
  const move = await planOwnerMove(metadata, ownerId, target)
  if (!move) {
    out(
      `Owner ${ownerId} (bucket ${metadata.bucketOfOwner(ownerId)}) is already on shard ${target}.`,
    )
    return 0
  }
  const { bucket, source, neighbours: others } = move
  out(
    `Owner ${ownerId} is in bucket ${bucket} on shard ${source}${others.length ? `, shared with ${others.length} other owners (${others.slice(0, 5).join(', ')}${others.length > 5 ? ', …' : ''})` : ''}.`,
  )
  out(`Moving bucket ${bucket} to shard ${target}…`)
  const moved = await move.run()
  out(`Done: ${moved.rows_copied} rows copied; directory epoch ${metadata.directory().epoch}.`)
  return 0
}

async function place(
  metadata: ShardedMetadata,
  ownerId: string,
  bucket: number,
  out: Out,
): Promise<number> {
  const shard = await placeOwner(metadata, ownerId, bucket)
  out(
    `Owner ${ownerId} now goes to bucket ${bucket} (shard ${shard}); other processes follow within the directory refresh interval.`,
  )
  return 0
}

function count(value: string | undefined): number | undefined {
  if (value === undefined) return undefined
  const n = Number(value)
  if (!Number.isInteger(n) || n < 1) throw new Error(`Expected a positive integer, got ${value}`)
  return n
}

function row(cells: string[]): string {
  const widths = [6, 8, 10, 10, 24]
  return cells.map((c, i) => (i < widths.length ? c.padEnd(widths[i] as number) : c)).join(' ')
}

function bytes(n: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB']
  let value = n
  let unit = 0
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024
    unit++
  }
  return `${value.toFixed(unit === 0 ? 0 : 1)} ${units[unit]}`
}

function usage(out: Out): number {
  out(`Usage:\n${SHARDS_USAGE}`)
  return 2
}

function fail(out: Out, message: string): number {
  out(message)
  return 1
}
