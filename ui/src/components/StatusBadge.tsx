/** An image's status as a badge; the text says it, the colour only repeats it. */
export function StatusBadge({ status }: { status: string }) {
  return <span class={`badge badge-${status}`}>{status}</span>
}
