import { useState } from 'preact/hooks'
import { type Placeholder, placeholderUrl } from '../lib/placeholder.js'

interface Props {
  src: string | null
  alt: string
  placeholder?: Placeholder | null
  width?: number | null
  height?: number | null
}

/**
 * A variant with the image's placeholder under it until the bytes arrive (or while there are
 * none: a queued image shows its blur or an empty frame). The frame keeps the aspect ratio so
 * nothing jumps when the image loads.
 */
export function Picture({ src, alt, placeholder, width, height }: Props) {
  const [loaded, setLoaded] = useState(false)
  const blur = placeholderUrl(placeholder)
  return (
    <span class="picture">
      {blur && !loaded && <img class="placeholder" src={blur} alt="" aria-hidden="true" />}
      {src && (
        <img
          class={loaded ? 'loaded' : 'loading'}
          src={src}
          alt={alt}
          width={width ?? undefined}
          height={height ?? undefined}
          loading="lazy"
          onLoad={() => setLoaded(true)}
        />
      )}
    </span>
  )
}
