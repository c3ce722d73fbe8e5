import { useState } from 'preact/hooks'
import { DataTable } from '../components/DataTable.js'
import { LineChart } from '../components/LineChart.js'
import { Section } from '../components/Section.js'
import { messageOf, request } from '../lib/api.js'
import { duration } from '../lib/format.js'
import { rowsOf, useLoad } from '../lib/use-load.js'
import { Keys } from './Keys.js'

interface QueueStats {
  visible: number
  inFlight: number
  delayed: number
  dead: number
  oldestAgeMs?: number
}

interface Metrics {
  intervalMs: number
  points: {
    at: string
    requests: number
    uploads: number
    jobsDone: number
    p50Ms: number | null
    p95Ms: number | null
  }[]
}

interface AuditEntry {
  id: string
  at: string
  actor: { ownerId: string; keyId?: string; via: string }
  action: string
  target: string
  detail: Record<string, unknown>
  requestId: string
}

/** The operator's view (admin scope): the queue, dead letters, shards, charts, keys, audit. */
export function Operator() {
  return (
    <main id="main">
      <h1 tabIndex={-1}>Operator</h1>
      <Queue />
      <Shards />
      <Charts />
      <Keys />
      <Audit />
    </main>
  )
}

function Queue() {
  const stats = useLoad<QueueStats>('/v1/admin/queue', 5_000)
  const dead = useLoad<unknown>('/v1/admin/dead-letters')
  const [result, setResult] = useState<string | null>(null)
  const redrive = async () => {
    try {
      const r = await request<{ redriven: number; missing: string[] }>(
        'POST',
        '/v1/admin/dead-letters/redrive',
        { json: {} },
      )
      setResult(`Redriven ${r.redriven}, missing ${r.missing.length}`)
      dead.reload()
      stats.reload()
    } catch (failure) {
      setResult(messageOf(failure))
    }
  }
  return (
    <Section id="queue-title" title="Queue" load={stats}>
      {(s) => (
        <>
          <dl class="stats" data-testid="queue-stats">
            <Stat name="Waiting" value={s.visible} />
            <Stat name="In flight" value={s.inFlight} />
            <Stat name="Delayed" value={s.delayed} />
            <Stat name="Dead" value={s.dead} />
            <Stat name="Oldest" value={duration(s.oldestAgeMs)} />
          </dl>
          <DataTable
            caption="Dead letters"
            rows={rowsOf(dead.data)}
            columns={['id', 'imageId', 'lastError', 'attempts', 'queuedAt']}
          />
          <button type="button" onClick={redrive} disabled={rowsOf(dead.data).length === 0}>
            Redrive all dead letters
          </button>
          <span role="status">{result}</span>
        </>
      )}
    </Section>
  )
}

function Stat({ name, value }: { name: string; value: string | number }) {
  return (
    <div>
      <dt>{name}</dt>
      <dd>{value}</dd>
    </div>
  )
}

function Shards() {
  const shards = useLoad<unknown>('/v1/admin/shards')
  return (
    <Section id="shards-title" title="Shards" load={shards}>
      {(data) => (
        <>
          <DataTable
            caption="Shards"
            rows={rowsOf(data, 'shards')}
            columns={['id', 'url', 'reachable', 'buckets', 'images', 'bytes', 'migration']}
          />
          <DataTable
            caption="Bucket moves"
            rows={rowsOf((data as { moves?: unknown }).moves)}
            columns={['bucket', 'source', 'target', 'phase', 'rowsCopied', 'updatedAt', 'detail']}
          />
        </>
      )}
    </Section>
  )
}

function Charts() {
  const metrics = useLoad<Metrics>('/v1/admin/metrics', 10_000)
  return (
    <Section id="charts-title" title="Throughput and latency" load={metrics}>
      {(m) => (
        <div class="charts">
          <LineChart
            title={`Throughput per ${duration(m.intervalMs)}`}
            unit="count"
            series={[
              { name: 'requests', values: m.points.map((p) => p.requests) },
              { name: 'uploads', values: m.points.map((p) => p.uploads) },
              { name: 'jobs done', values: m.points.map((p) => p.jobsDone) },
            ]}
          />
          <LineChart
            title="Request latency"
            unit="ms"
            series={[
              { name: 'p50', values: m.points.map((p) => p.p50Ms) },
              { name: 'p95', values: m.points.map((p) => p.p95Ms) },
            ]}
          />
        </div>
      )}
    </Section>
  )
}

function Audit() {
  const [cursor, setCursor] = useState<string | null>(null)
  const path = `/v1/admin/audit${cursor ? `?cursor=${encodeURIComponent(cursor)}` : ''}`
  const audit = useLoad<{ items: AuditEntry[]; nextCursor: string | null }>(path)
  return (
    <Section id="audit-title" title="Audit log" load={audit}>
      {(a) => (
        <>
          <DataTable
            caption="Audit log"
            rows={a.items.map((e) => ({
              ...e,
              actor: `${e.actor.ownerId} (${e.actor.via}${e.actor.keyId ? ` ${e.actor.keyId}` : ''})`,
            }))}
            columns={['at', 'actor', 'action', 'target', 'detail', 'requestId']}
          />
          {cursor && (
            <button type="button" onClick={() => setCursor(null)}>
              Newest
            </button>
          )}{' '}
          {a.nextCursor && (
            <button type="button" onClick={() => setCursor(a.nextCursor)}>
              Older
            </button>
          )}
        </>
      )}
    </Section>
  )
}
