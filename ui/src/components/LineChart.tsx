export interface Series {
  name: string
  /** null: no sample there (a gap in the line). */
  values: (number | null)[]
}

interface Props {
  title: string
  series: Series[]
  unit: string
}

const W = 480
const H = 160
const PAD = 28

/** A small line chart drawn as SVG: one polyline per series, its maximum on the axis. */
export function LineChart({ title, series, unit }: Props) {
  const count = Math.max(0, ...series.map((s) => s.values.length))
  const max = Math.max(1, ...series.flatMap((s) => s.values.filter((v) => v !== null)))
  const x = (i: number) => PAD + (count > 1 ? (i * (W - 2 * PAD)) / (count - 1) : 0)
  const y = (v: number) => H - PAD - (v / max) * (H - 2 * PAD)
  const summary = series.map((s) => `${s.name} last ${s.values.at(-1) ?? '—'} ${unit}`).join(', ')
  // One path per series; a gap (null) lifts the pen, so a missing sample is not drawn as zero.
  const path = (values: Series['values']) =>
    values
      .map((v, i) =>
        v === null ? '' : `${i > 0 && values[i - 1] !== null ? 'L' : 'M'}${x(i)},${y(v)}`,
      )
      .join(' ')
  return (
    <figure class="chart">
      <figcaption>{title}</figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label={`${title}: ${summary}`}>
        <line class="axis" x1={PAD} y1={H - PAD} x2={W - PAD} y2={H - PAD} />
        <line class="axis" x1={PAD} y1={PAD} x2={PAD} y2={H - PAD} />
        <text class="tick" x={PAD - 4} y={PAD + 4} text-anchor="end">
          {Math.round(max)}
        </text>
        <text class="tick" x={PAD - 4} y={H - PAD} text-anchor="end">
          0
        </text>
        {series.map((s, n) => (
          <g key={s.name} class={`series-${n}`}>
            <path class="line" d={path(s.values)} />
            {/* A sample with no neighbour draws no line: a dot shows it. */}
            {s.values.map((v, i) =>
              v !== null &&
              (s.values[i - 1] ?? null) === null &&
              (s.values[i + 1] ?? null) === null ? (
                <circle key={i} class="dot" cx={x(i)} cy={y(v)} r={3} />
              ) : null,
            )}
          </g>
        ))}
      </svg>
      <ul class="legend">
        {series.map((s, n) => (
          <li key={s.name} class={`series-${n}`}>
            {s.name} ({unit})
          </li>
        ))}
      </ul>
    </figure>
  )
}
