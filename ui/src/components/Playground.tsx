import type { Image } from '@pixelflow/client'
import { useState } from 'preact/hooks'
import { request } from '../lib/api.js'

const FORMATS = ['webp', 'jpg', 'avif', 'png'] as const

/**
 * On-the-fly transforms of this image through an unsigned preset (`/t/_/p:<preset>/<id>.<ext>`,
 * docs/delivery.md). A page cannot sign other options: that key stays on the server. Nothing is
 * asked until the user renders, and a refusal (transforms off, the preset needs a signature) is
 * shown in the server's words.
 */
export function Playground({ image }: { image: Image }) {
  const presets = [...new Set(image.variants.map((v) => v.name))]
  const [preset, setPreset] = useState(presets[0] ?? 'thumb')
  const [format, setFormat] = useState<(typeof FORMATS)[number]>('webp')
  const [shown, setShown] = useState<string | null>(null)
  const [refusal, setRefusal] = useState<string | null>(null)
  const url = `/t/_/p:${encodeURIComponent(preset)}/${encodeURIComponent(image.id)}.${format}`
  const explain = async () => {
    setShown(null)
    // The image failed to load: ask again for the problem's detail.
    setRefusal(
      await request('GET', url).then(
        () => 'The render failed.',
        (e: Error) => e.message,
      ),
    )
  }
  return (
    <section aria-labelledby="playground-title">
      <h2 id="playground-title">Transform playground</h2>
      <div class="row">
        <label>
          Preset{' '}
          <select
            value={preset}
            onChange={(e) => setPreset((e.currentTarget as HTMLSelectElement).value)}
          >
            {presets.map((p) => (
              <option key={p}>{p}</option>
            ))}
          </select>
        </label>
        <label>
          Format{' '}
          <select
            value={format}
            onChange={(e) => setFormat((e.currentTarget as HTMLSelectElement).value as never)}
          >
            {FORMATS.map((f) => (
              <option key={f}>{f}</option>
            ))}
          </select>
        </label>
        <button
          type="button"
          onClick={() => {
            setRefusal(null)
            setShown(url)
          }}
        >
          Render
        </button>
      </div>
      <p>
        <code>{url}</code>
      </p>
      {shown && (
        <img class="rendered" src={shown} alt={`${preset} as ${format}`} onError={explain} />
      )}
      {refusal && (
        <p class="error" role="alert">
          {refusal}
        </p>
      )}
    </section>
  )
}
