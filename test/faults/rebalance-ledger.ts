import { setTimeout as sleep } from 'node:timers/promises'
import type { Image, ImageStatus } from '../../src/domain/image.js'
import { isAppError } from '../../src/errors/index.js'
import type { ShardedMetadata } from '../../src/metadata/sharded-metadata.js'
import { rowsByShard } from '../contracts/metadata.contract.js'
import { insertImage, newImageRow, variantsOf } from '../fixtures/image-rows.js'

/**
 * Load and bookkeeping for the rebalance fault tests: writers whose acknowledged writes go into a
 * ledger, a reader that pages through listings while buckets move, and the checks that end each
 * test (nothing acknowledged lost, nothing deleted back, every row where the directory says).
 */

/** What an image must look like at the end, given the writes the store acknowledged. */
export interface Expected {
  ownerId: string
  bucket: number
  exists: boolean
  attempts: number
  status: ImageStatus
  variants: number
}

/** Statuses startProcessing and completeImage act on; on any other they change nothing. */
const PENDING: readonly ImageStatus[] = ['queued', 'processing']

export class Ledger {
  /** Image id → its state after the last acknowledged write (seeded images included). */
  readonly images = new Map<string, Expected>()
  /** Ids a write to which threw: it may or may not have happened, so their state is not checked. */
  readonly uncertain = new Set<string>()
  /** Acknowledged writes (not seeds) with their start and end: which ones waited out a fence. */
  readonly acks: { id: string; bucket: number; started: number; ended: number }[] = []
  readonly errors: string[] = []
  /** Answers that contradicted the ledger when they came (an update applied twice, a row gone). */
  readonly contradictions: string[] = []
  private readonly liveByOwner = new Map<string, Set<string>>()

  seed(image: Image): void {
    this.set(image.id, {
      ownerId: image.ownerId,
      bucket: image.bucket,
      exists: true,
      attempts: 0,
      status: 'queued',
      variants: 0,
    })
  }

  ack(id: string, next: Expected, started: number): void {
    this.set(id, next)
    this.acks.push({ id, bucket: next.bucket, started, ended: Date.now() })
  }

  /** Writers leave an uncertain id alone from then on: nothing more can be expected of it. */
  fail(id: string, error: unknown): void {
    this.uncertain.add(id)
    for (const live of this.liveByOwner.values()) live.delete(id)
    this.errors.push(`${id}: ${isAppError(error) ? error.code : ''} ${(error as Error).message}`)
  }

  expectAnswer(id: string, op: string, got: unknown, want: unknown): void {
    if (JSON.stringify(got) !== JSON.stringify(want))
      this.contradictions.push(
        `${op}(${id}) answered ${JSON.stringify(got)}, the ledger expected ${JSON.stringify(want)}`,
      )
  }

  live(ownerId: string): string[] {
    return [...(this.liveByOwner.get(ownerId) ?? [])]
  }

  private set(id: string, next: Expected): void {
    this.images.set(id, next)
    const live = this.liveByOwner.get(next.ownerId) ?? new Set<string>()
    if (next.exists) live.add(id)
    else live.delete(id)
    this.liveByOwner.set(next.ownerId, live)
  }
}

/** The first `count` owner ids `${prefix}-0`, `${prefix}-1`, … whose bucket passes `accept` (about 4096 tries per bucket). */
export function findOwners(
  metadata: ShardedMetadata,
  prefix: string,
  count: number,
  accept: (bucket: number) => boolean,
): string[] {
  const found: string[] = []
  for (let n = 0; found.length < count; n++)
    if (accept(metadata.bucketOfOwner(`${prefix}-${n}`))) found.push(`${prefix}-${n}`)
  return found
}

/** `perOwner` images for each owner, in the ledger as seeds; returns owner → ids. */
export async function seed(
  metadata: ShardedMetadata,
  ledger: Ledger,
  owners: readonly string[],
  perOwner: number,
): Promise<Map<string, string[]>> {
  const byOwner = new Map<string, string[]>()
  await Promise.all(
    owners.map(async (ownerId) => {
      const ids: string[] = []
      for (let i = 0; i < perOwner; i++) {
        const image = await insertImage(metadata, ownerId)
        ledger.seed(image)
        ids.push(image.id)
      }
      byOwner.set(ownerId, ids)
    }),
  )
  return byOwner
}

/** Writers that loop until stopped, each through its own router, on its own owners only (so it knows their state). */
export function startWriters(
  routers: readonly ShardedMetadata[],
  ledger: Ledger,
  ownersOf: readonly string[][],
  pauseMs: number,
) {
  let running = true
  const loops = routers.map(async (metadata, w) => {
    const owners = ownersOf[w] ?? []
    while (running) {
      // A timer before each operation. On SQLite this process's queries are synchronous, so each
      // operation then runs alone in its own macrotask: two writers' transactions never interleave
      // on one file here, where a busy wait would block the very thread holding the lock.
      await sleep(Math.random() * pauseMs)
      await writeOnce(metadata, ledger, owners[Math.floor(Math.random() * owners.length)]!)
    }
  })
  return {
    async stop(): Promise<void> {
      running = false
      await Promise.all(loops)
    },
  }
}

/** One random write: insert, startProcessing (attempts + 1), completeImage (ready, 2 variants) or delete. */
async function writeOnce(
  metadata: ShardedMetadata,
  ledger: Ledger,
  ownerId: string,
): Promise<void> {
  const live = ledger.live(ownerId)
  const id = live[Math.floor(Math.random() * live.length)]
  const roll = Math.random()
  if (id === undefined || roll < 0.3) return insert(metadata, ledger, ownerId)
  const before = ledger.images.get(id)!
  const store = metadata.forImageId(id)!
  const pending = PENDING.includes(before.status)
  if (roll < 0.6) {
    return attempt(ledger, id, async () => {
      const after = pending
        ? { ...before, status: 'processing' as const, attempts: before.attempts + 1 }
        : before
      const image = await store.startProcessing(id, Date.now())
      ledger.expectAnswer(id, 'startProcessing', image && [image.attempts, image.status], [
        after.attempts,
        after.status,
      ])
      return after
    })
  }
  if (roll < 0.8) {
    return attempt(ledger, id, async () => {
      const done = await store.completeImage(
        id,
        { variants: variantsOf(id), placeholder: null },
        Date.now(),
      )
      ledger.expectAnswer(id, 'completeImage', done, pending)
      return pending ? { ...before, status: 'ready', variants: 2 } : before
    })
  }
  return attempt(ledger, id, async () => {
    const deleted = await store.deleteImage(id)
    ledger.expectAnswer(id, 'deleteImage', deleted?.id ?? null, id)
    return { ...before, exists: false }
  })
}

function insert(metadata: ShardedMetadata, ledger: Ledger, ownerId: string): Promise<void> {
  const row = newImageRow(metadata, ownerId)
  return attempt(ledger, row.id, async () => {
    const created = await metadata
      .forBucket(row.bucket)
      .createImage(row, JSON.stringify({ imageId: row.id }), Date.now())
    ledger.expectAnswer(
      row.id,
      'createImage',
      'existing' in created ? 'a replay' : created.id,
      row.id,
    )
    return { ownerId, bucket: row.bucket, exists: true, attempts: 0, status: 'queued', variants: 0 }
  })
}

async function attempt(ledger: Ledger, id: string, write: () => Promise<Expected>): Promise<void> {
  const started = Date.now()
  try {
    ledger.ack(id, await write(), started)
  } catch (error) {
    ledger.fail(id, error)
  }
}

export interface ReadReport {
  passes: number
  /** listAll pages answered BUCKET_MOVING (buckets kept switching during its fan-out) and asked again. */
  retried: number
  problems: string[]
}

/**
 * Pages through the cross-shard listing and through each stable owner's images, pass after pass,
 * while buckets move. Stable images are never written, so every pass must show each of them once.
 */
export function startReader(
  metadata: ShardedMetadata,
  stable: ReadonlyMap<string, readonly string[]>,
) {
  const report: ReadReport = { passes: 0, retried: 0, problems: [] }
  const everyStable = [...stable.values()].flat()
  let running = true
  const loop = (async () => {
    while (running) {
      const pass = report.passes + 1
      try {
        report.problems.push(
          ...compare(
            `pass ${pass} listAll`,
            await listAllPass(metadata, report),
            everyStable,
            false,
          ),
        )
        for (const [ownerId, ids] of stable)
          report.problems.push(
            ...compare(
              `pass ${pass} listImages(${ownerId})`,
              await ownerPass(metadata, ownerId),
              ids,
              true,
            ),
          )
      } catch (error) {
        report.problems.push(`pass ${pass}: ${(error as Error).message}`)
      }
      report.passes = pass
    }
  })()
  return {
    report,
    async stop(): Promise<ReadReport> {
      running = false
      await loop
      return report
    },
  }
}

/** No id twice, every expected id present, and (`exact`) nothing else. */
function compare(
  what: string,
  seen: string[],
  expected: readonly string[],
  exact: boolean,
): string[] {
  const problems: string[] = []
  const unique = new Set(seen)
  if (unique.size !== seen.length)
    problems.push(`${what}: ${seen.length - unique.size} ids listed twice`)
  const missing = expected.filter((id) => !unique.has(id))
  if (missing.length > 0)
    problems.push(`${what}: ${missing.length} stable images missing, e.g. ${missing[0]}`)
  if (exact && unique.size !== expected.length)
    problems.push(`${what}: ${unique.size} images listed, ${expected.length} expected`)
  return problems
}

async function listAllPass(metadata: ShardedMetadata, report: ReadReport): Promise<string[]> {
  const ids: string[] = []
  for (let before: string | undefined; ; ) {
    let page: Image[]
    try {
      page = await metadata.listAll(25, before)
    } catch (error) {
      if (!isAppError(error) || error.code !== 'BUCKET_MOVING') throw error
      report.retried++
      continue
    }
    if (page.length === 0) return ids
    ids.push(...page.map((image) => image.id))
    before = page.at(-1)!.id
    await sleep(1) // a pass spans many switches instead of running between two of them
  }
}

async function ownerPass(metadata: ShardedMetadata, ownerId: string): Promise<string[]> {
  const ids: string[] = []
  for (let before: string | undefined; ; ) {
    const page = await metadata.forOwner(ownerId).listImages(ownerId, 3, before)
    if (page.length === 0) return ids
    ids.push(...page.map((image) => image.id))
    before = page.at(-1)!.id
    await sleep(1)
  }
}

/**
 * Every acknowledged write is there (attempts, status and variant count as the ledger says), no
 * acknowledged delete came back, and no row exists that no write made. Read from the raw tables
 * of every shard: placementProblems ties each row to the shard the router reads it from.
 */
export async function ledgerProblems(metadata: ShardedMetadata, ledger: Ledger): Promise<string[]> {
  const stored = await storedImages(metadata)
  const problems: string[] = []
  for (const [id, want] of ledger.images) {
    if (ledger.uncertain.has(id)) continue
    const got = stored.get(id)
    if (!want.exists) {
      if (got) problems.push(`resurrected: ${id} (deleted, acknowledged) is on shard ${got.shard}`)
      continue
    }
    const seen = got && { attempts: got.attempts, status: got.status, variants: got.variants }
    const expected = { attempts: want.attempts, status: want.status, variants: want.variants }
    if (JSON.stringify(seen) !== JSON.stringify(expected))
      problems.push(
        `lost write: ${id} is ${JSON.stringify(seen)}, acknowledged ${JSON.stringify(expected)}`,
      )
  }
  for (const id of stored.keys())
    if (!ledger.images.has(id) && !ledger.uncertain.has(id))
      problems.push(`phantom: ${id} was never written`)
  return problems
}

/** Every image row of every shard with its variant count (a row on two shards: the last one read). */
async function storedImages(metadata: ShardedMetadata) {
  const stored = new Map<
    string,
    { shard: number; attempts: number; status: ImageStatus; variants: number }
  >()
  for (const { id: shard } of metadata.shards()) {
    const { db } = await metadata.shard(shard)
    const [images, variants] = await Promise.all([
      db.selectFrom('images').select(['id', 'attempts', 'status']).execute(),
      db
        .selectFrom('variants')
        .select((eb) => ['image_id', eb.fn.countAll<number>().as('n')])
        .groupBy('image_id')
        .execute(),
    ])
    const counts = new Map(variants.map((v) => [v.image_id, Number(v.n)]))
    for (const row of images)
      stored.set(row.id, {
        shard,
        attempts: Number(row.attempts),
        status: row.status,
        variants: counts.get(row.id) ?? 0,
      })
  }
  return stored
}

/** Every image row on exactly the shard the directory names, and its variants beside it. */
export async function placementProblems(metadata: ShardedMetadata): Promise<string[]> {
  const directory = await metadata.refresh()
  const problems: string[] = []
  const holder = new Map<string, number>()
  for (const [shard, rows] of await rowsByShard(metadata)) {
    for (const row of rows) {
      const named = directory.shardOf[row.bucket]
      if (named !== shard)
        problems.push(
          `${row.id} (bucket ${row.bucket}) is on shard ${shard}, the directory names shard ${named}`,
        )
      if (holder.has(row.id))
        problems.push(`${row.id} is on shards ${holder.get(row.id)} and ${shard}`)
      holder.set(row.id, shard)
    }
    const { db } = await metadata.shard(shard)
    const orphans = await db
      .selectFrom('variants')
      .select('image_id')
      .where('image_id', 'not in', (eb) => eb.selectFrom('images').select('id'))
      .execute()
    for (const orphan of orphans)
      problems.push(`shard ${shard}: variant of ${orphan.image_id} without its image`)
  }
  return problems
}

/** No move left half done: no change log, every bucket `owned` by exactly the shard the directory names, every move `done`. */
export async function leftoverProblems(metadata: ShardedMetadata): Promise<string[]> {
  const directory = await metadata.refresh()
  const problems: string[] = []
  for (const { id } of metadata.shards()) {
    const { db } = await metadata.shard(id)
    const changes = await db.selectFrom('bucket_changes').select(['bucket', 'image_id']).execute()
    if (changes.length > 0)
      problems.push(
        `shard ${id}: ${changes.length} bucket_changes rows left, e.g. bucket ${changes[0]!.bucket}`,
      )
    const states = await db.selectFrom('bucket_ownership').select(['bucket', 'state']).execute()
    for (const { bucket, state } of states) {
      if (state !== 'owned' || directory.shardOf[bucket] !== id)
        problems.push(
          `shard ${id}: bucket ${bucket} is ${state}, the directory names shard ${directory.shardOf[bucket]}`,
        )
    }
    const named = directory.shardOf.filter((shard) => shard === id).length
    if (states.length !== named)
      problems.push(
        `shard ${id} has ${states.length} ownership rows, the directory gives it ${named} buckets`,
      )
  }
  for (const move of await metadata.directoryStore.moves.list()) {
    if (move.phase !== 'done')
      problems.push(
        `bucket_moves: bucket ${move.bucket} is ${move.phase}${move.detail ? ` (${move.detail})` : ''}`,
      )
  }
  return problems
}
