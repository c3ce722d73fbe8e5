/**
 * Line charts as SVG text, written by hand: a few stacked panels sharing one time axis, which is
 * all the simulation draws, with no dependency and byte-identical output for identical input.
 */

export interface Series {
  name: string
  color: string
  points: [number, number][]
  dashed?: boolean
}

export interface Panel {
  title: string
  series: Series[]
}

const WIDTH = 900
const PANEL_HEIGHT = 150
const GAP = 40
const LEFT = 70
const RIGHT = 20
const TOP = 50

export function stackedChart(title: string, xMax: number, xLabel: string, panels: Panel[]): string {
  const height = TOP + panels.length * (PANEL_HEIGHT + GAP) + 10
  const body = panels.map((panel, i) => drawPanel(panel, TOP + i * (PANEL_HEIGHT + GAP), xMax))
  const xAxisY = TOP + panels.length * (PANEL_HEIGHT + GAP) - GAP + 30
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="sans-serif" font-size="11">`,
    `<title>${escapeXml(title)}</title>`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${LEFT}" y="24" font-size="15" font-weight="bold">${escapeXml(title)}</text>`,
    ...body,
    `<text x="${LEFT + plotWidth() / 2}" y="${xAxisY}" text-anchor="middle">${escapeXml(xLabel)}</text>`,
    '</svg>',
    '',
  ].join('\n')
}

function plotWidth(): number {
  return WIDTH - LEFT - RIGHT
}

function drawPanel(panel: Panel, top: number, xMax: number): string {
  const yMax = niceMax(Math.max(1e-9, ...panel.series.flatMap((s) => s.points.map((p) => p[1]))))
  const x = (v: number) => LEFT + (v / xMax) * plotWidth()
  const y = (v: number) => top + PANEL_HEIGHT - (v / yMax) * PANEL_HEIGHT
  const parts = [
    `<text x="${LEFT}" y="${top - 6}" font-weight="bold">${escapeXml(panel.title)}</text>`,
    `<rect x="${LEFT}" y="${top}" width="${plotWidth()}" height="${PANEL_HEIGHT}" fill="none" stroke="#999"/>`,
  ]
  for (const fraction of [0, 0.5, 1]) {
    const value = yMax * fraction
    parts.push(
      `<line x1="${LEFT}" x2="${LEFT + plotWidth()}" y1="${y(value)}" y2="${y(value)}" stroke="#eee"/>`,
      `<text x="${LEFT - 6}" y="${y(value) + 4}" text-anchor="end">${label(value)}</text>`,
    )
  }
  for (let tick = 0; tick <= xMax; tick += 10) {
    parts.push(
      `<text x="${x(tick)}" y="${top + PANEL_HEIGHT + 14}" text-anchor="middle">${tick}</text>`,
    )
  }
  panel.series.forEach((series, i) => {
    const points = series.points.map(([px, py]) => `${round(x(px))},${round(y(py))}`).join(' ')
    const dash = series.dashed ? ' stroke-dasharray="5,3"' : ''
    const legendX = LEFT + plotWidth() - 160 * (panel.series.length - i)
    parts.push(
      `<polyline fill="none" stroke="${series.color}" stroke-width="1.5"${dash} points="${points}"/>`,
      `<line x1="${legendX}" x2="${legendX + 18}" y1="${top - 10}" y2="${top - 10}" stroke="${series.color}" stroke-width="2"${dash}/>`,
      `<text x="${legendX + 22}" y="${top - 6}">${escapeXml(series.name)}</text>`,
    )
  })
  return parts.join('\n')
}

/** 1, 2 or 5 × a power of ten, at or above the largest value. */
function niceMax(value: number): number {
  const power = 10 ** Math.floor(Math.log10(value))
  for (const step of [1, 2, 5, 10]) if (step * power >= value) return step * power
  return 10 * power
}

function label(value: number): string {
  if (value >= 1e6) return `${round(value / 1e6)}M`
  if (value >= 1e4) return `${round(value / 1e3)}k`
  return `${round(value)}`
}

function round(value: number): number {
  return Math.round(value * 10) / 10
}

function escapeXml(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
}
