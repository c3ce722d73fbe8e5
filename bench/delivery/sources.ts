/**
 * The source photos every side of the delivery part works from: each JPEG of the corpus made
 * into a ~2K JPEG (longest side 2048 px, quality 90, orientation applied) in a temp folder. The
 * same files are uploaded to Pixelflow, read by ipx and read by the raw-sharp server.
 */
import { stat } from 'node:fs/promises'
import { basename, join } from 'node:path'
import sharp from 'sharp'
import { listPhotos, mimeOf } from '../harness/photos.js'

export const SOURCE_LONGEST_SIDE = 2048
export const SOURCE_QUALITY = 90

export interface Source {
  /** File name in the sources folder (URL-safe: letters, digits, `-`, `.`). */
  name: string
  path: string
  bytes: number
  width: number
  height: number
}

export async function makeSources(folder: string, dir: string): Promise<Source[]> {
  const jpegs = listPhotos(folder).filter((path) => mimeOf(path) === 'image/jpeg')
  if (jpegs.length === 0) throw new Error(`No JPEG photos in ${folder}`)
  const sources: Source[] = []
  // One at a time: a 17.9 MP decode is ~70 MB of pixels, and the machine is shared.
  for (const photo of jpegs) {
    const name = `${basename(photo)
      .replace(/\.[^.]+$/, '')
      .replace(/[^A-Za-z0-9-]/g, '-')}.jpg`
    const path = join(dir, name)
    const info = await sharp(photo, { autoOrient: true })
      .resize({
        width: SOURCE_LONGEST_SIDE,
        height: SOURCE_LONGEST_SIDE,
        fit: 'inside',
        withoutEnlargement: true,
      })
      .jpeg({ quality: SOURCE_QUALITY })
      .toFile(path)
    sources.push({
      name,
      path,
      bytes: (await stat(path)).size,
      width: info.width,
      height: info.height,
    })
  }
  return sources
}
