/**
 * Table shapes of the control database (not sharded): API keys, settings, and the shard
 * registry with the bucket directory. A SQLite file when embedded, a PostgreSQL database at scale.
 * Times are epoch milliseconds.
 */
export interface ControlDb {
  api_keys: {
    id: string
    owner_id: string
    secret_hash: string
    scopes: string
    created_at: number
    /** When the key stops working; in the future during a rotation's grace period. */
    revoked_at: number | null
  }
  settings: { key: string; value: string }
  shards: { id: number; url: string; created_at: number }
  bucket_directory: { bucket: number; shard_id: number }
  /** One row (id 1): the directory's epoch, bumped by every switch, and the owner strategy (JSON). */
  directory_meta: { id: number; epoch: number; strategy: string }
  owner_placements: { owner_id: string; bucket: number }
  bucket_moves: BucketMoveRow
}

export type MovePhase =
  | 'capture'
  | 'copy'
  | 'catchup'
  | 'fence'
  | 'verify'
  | 'switch'
  | 'cleanup'
  | 'done'
  | 'failed'

export interface BucketMoveRow {
  bucket: number
  source: number
  target: number
  /** The next step to run: a mover restarted after a crash resumes here. */
  phase: MovePhase
  copy_cursor: string | null
  rows_copied: number
  changes_applied: number
  started_at: number
  updated_at: number
  fenced_at: number | null
  detail: string | null
}
