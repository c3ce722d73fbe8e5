/** The photos the image parts (worker, upload, end-to-end) work on. Node built-ins only. */
import { existsSync, readdirSync } from 'node:fs'
import { extname, join, resolve } from 'node:path'

export const DEFAULT_CORPUS = '/work/shared/corpus/photos'
const PHOTO_EXTENSIONS = new Set(['.jpg', '.jpeg', '.png'])

/** The photos to work on: the folder given as argument, else the shared corpus. */
export function photoFolder(argv = process.argv.slice(2)): string {
  const folder = argv.find((arg) => !arg.startsWith('-')) ?? DEFAULT_CORPUS
  if (!existsSync(folder))
    throw new Error(`No photo folder at ${folder}: pass one as the first argument`)
  return resolve(folder)
}

export function listPhotos(folder: string): string[] {
  const photos = readdirSync(folder)
    .filter((name) => PHOTO_EXTENSIONS.has(extname(name).toLowerCase()))
    .sort()
    .map((name) => join(folder, name))
  if (photos.length === 0) throw new Error(`No JPEG or PNG photos in ${folder}`)
  return photos
}

export function mimeOf(path: string): string {
  return extname(path).toLowerCase() === '.png' ? 'image/png' : 'image/jpeg'
}
