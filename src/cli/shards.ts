import type { Command } from 'commander'
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
import { EXIT, type Scope, wholeNumber } from './command.js'
import { formatBytes } from './format.js'

type Out = (line: string) => void

/**
 * `pixelflow shards …`: parses and prints; the operations themselves live in sharding/operations.
 * A refused operation prints its reason and exits 1.
 */
export function registerShards(program: Command, scope: Scope): void {
  const shards = program
    .command('shards')
    .description('metadata shards: status, add, rebalance, move or place an owner')
  const on = (body: (metadata: ShardedMetadata) => Promise<number>) =>
    scope.withDeps({}, async (deps) => {
      try {
        return await body(deps.metadata)
      } catch (error) {
        if (!(error instanceof OperationRefused)) throw error
        scope.out(error.message)
        return EXIT.failed
      }
    })
  shards
    .command('status')
    .description('buckets, rows and bytes per shard, hottest owners, moves in progress')
    .option('--json', 'as JSON')
    .action(scope.run((o: { json?: boolean }) => on((m) => status(m, o.json ?? false, scope.out))))
  shards
    .command('add')
    .description('migrate a new database and register it (it holds no buckets until a rebalance)')
    .argument('<url>', 'a SQLite path or a postgres:// URL')
    .action(scope.run((url: string) => on((m) => add(m, url, scope.out))))
  shards
    .command('rebalance')
    .summary('even out buckets across shards, online')
    .description(
      'print the plan that evens out buckets across shards, then run it online ' +
        '(an interrupted run resumes where it stopped)',
    )
    .option('--dry-run', 'print the plan only')
    .option('--max-moves <n>', 'move at most this many buckets', wholeNumber(1))
    .option('--parallel <n>', 'buckets moved at once', wholeNumber(1))
    .action(
      scope.run((o: { dryRun?: boolean; maxMoves?: number; parallel?: number }) =>
        on((m) =>
          rebalance(
            m,
            { dryRun: o.dryRun ?? false, maxMoves: o.maxMoves, parallel: o.parallel },
            scope.out,
          ),
        ),
      ),
    )
  shards
    .command('move')
    .description("move the owner's bucket (and the few owners sharing it) to a shard")
    .requiredOption('--owner <id>', 'the owner to move')
    .requiredOption('--to <shard>', 'the target shard id', wholeNumber(0))
    .action(
      scope.run((o: { owner: string; to: number }) =>
        on((m) => moveOwner(m, o.owner, o.to, scope.out)),
      ),
    )
  shards
    .command('place')
    .description('directory strategy: put a new owner in a chosen bucket')
    .requiredOption('--owner <id>', 'the new owner')
    .requiredOption('--bucket <n>', 'the bucket', wholeNumber(0))
    .action(
      scope.run((o: { owner: string; bucket: number }) =>
        on((m) => place(m, o.owner, o.bucket, scope.out)),
      ),
    )
}

async function add(metadata: ShardedMetadata, url: string, out: Out): Promise<number> {
  out(
    `Registered shard ${await metadata.addShard(url)} (${redact(url)}), migrated and holding no buckets yet.`,
  )
  out('Run `pixelflow shards rebalance` to give it its share.')
  return 0
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
        s.stats ? formatBytes(s.stats.bytes) : '-',
        s.stats?.migration ?? '-',
        s.url,
      ]),
    )
  }
  out('Hottest owners:')
  for (const s of shards) {
    const owners = s.stats?.hottestOwners
      .map((o) => `${o.ownerId} (${o.rows} rows, ${formatBytes(o.bytes)})`)
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

function row(cells: string[]): string {
  const widths = [6, 8, 10, 10, 24]
  return cells.map((c, i) => (i < widths.length ? c.padEnd(widths[i] as number) : c)).join(' ')
}
