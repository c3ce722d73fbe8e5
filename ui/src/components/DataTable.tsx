import type { ComponentChildren } from 'preact'

interface Props {
  caption: string
  rows: Record<string, unknown>[]
  /** Columns to show, in order; by default every field of the first row. */
  columns?: string[]
  /** A last cell per row (buttons). */
  actions?: (row: Record<string, unknown>) => ComponentChildren
}

/** A plain table of JSON rows: the admin API's lists, whatever fields they carry. */
export function DataTable({ caption, rows, columns, actions }: Props) {
  const names = columns ?? Object.keys(rows[0] ?? {})
  if (rows.length === 0) return <p>{caption}: none.</p>
  return (
    <table>
      <caption>{caption}</caption>
      <thead>
        <tr>
          {names.map((n) => (
            <th key={n} scope="col">
              {n}
            </th>
          ))}
          {actions && <th scope="col">actions</th>}
        </tr>
      </thead>
      <tbody>
        {rows.map((row, i) => (
          <tr key={String(row.id ?? i)}>
            {names.map((n) => (
              <td key={n}>{cell(row[n])}</td>
            ))}
            {actions && <td>{actions(row)}</td>}
          </tr>
        ))}
      </tbody>
    </table>
  )
}

function cell(value: unknown): string {
  if (value === null || value === undefined) return '—'
  if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value.join(', ')
  if (typeof value === 'object') return JSON.stringify(value)
  return String(value)
}
