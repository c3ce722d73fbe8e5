import type { OutputFormat } from '@pixelflow/client'
import Table from 'cli-table3'
import type { Command } from 'commander'
import { EXIT, type Scope, wholeNumber } from './command.js'
import { formatBytes, tableStyle } from './format.js'
import { connect, type Image, type RemoteOptions, remote, withRemote } from './remote.js'
import { registerReprocess } from './reprocess.js'

interface ListOptions extends RemoteOptions {
  limit: number
  cursor?: string
  all?: boolean
  json?: boolean
}

/** `pixelflow images list|get|delete|url`: the caller's own images on a server, through the client. */
export function registerImages(program: Command, scope: Scope): void {
  const images = program
    .command('images')
    .description('list, show, delete your images; print a variant URL; reprocess (operators)')
  const colour = scope.ctx.io.isTTY
  withRemote(
    images
      .command('list')
      .description('your images, a page at a time, or --all')
      .option('--limit <n>', 'images per page', wholeNumber(1), 20)
      .option('--cursor <cursor>', 'the page after this cursor (printed under a page)')
      .option('--all', 'every page')
      .option('--json', 'as JSON: {items, nextCursor}'),
    scope,
  ).action(
    scope.run((options: ListOptions) =>
      remote(scope, async () => {
        const client = await connect(options)
        const page = options.all
          ? {
              items: await collect(client.images.iterate({ limit: options.limit })),
              nextCursor: null,
            }
          : await client.images.list({
              limit: options.limit,
              ...(options.cursor ? { cursor: options.cursor } : {}),
            })
        if (options.json) {
          scope.out(JSON.stringify({ items: page.items, nextCursor: page.nextCursor }, null, 2))
          return EXIT.ok
        }
        scope.out(listTable(page.items, colour))
        if (page.nextCursor) scope.out(`More: --cursor ${page.nextCursor} (or --all)`)
        return EXIT.ok
      }),
    ),
  )
  withRemote(
    images
      .command('get')
      .description('one image with its variants')
      .argument('<id>')
      .option('--json', 'as JSON'),
    scope,
  ).action(
    scope.run((id: string, options: RemoteOptions & { json?: boolean }) =>
      remote(scope, async () => {
        const image = await (await connect(options)).images.get(id)
        scope.out(options.json ? JSON.stringify(image, null, 2) : describeImage(image, colour))
        return EXIT.ok
      }),
    ),
  )
  withRemote(
    images.command('delete').description('delete an image and its variants').argument('<id>'),
    scope,
  ).action(
    scope.run((id: string, options: RemoteOptions) =>
      remote(scope, async () => {
        await (await connect(options)).images.delete(id)
        scope.out(`Deleted ${id}`)
        return EXIT.ok
      }),
    ),
  )
  withRemote(
    images
      .command('url')
      .description(
        "a variant's URL (signed for a private image); without --preset, every variant's",
      )
      .argument('<id>')
      .option('--preset <name>', 'the preset (thumb, medium … as the server is configured)')
      .option('--format <format>', 'the format (webp, avif, jpeg …)'),
    scope,
  ).action(
    scope.run((id: string, options: RemoteOptions & { preset?: string; format?: string }) =>
      remote(scope, async () => {
        const client = await connect(options)
        const image = await client.images.get(id)
        if (options.preset) {
          const url = client.images.variantUrl(
            image,
            options.preset,
            options.format as OutputFormat | undefined,
          )
          if (url) {
            scope.out(url)
            return EXIT.ok
          }
        } else {
          const variants = image.variants.filter(
            (v) => !options.format || v.format === options.format,
          )
          for (const v of variants) scope.out(`${v.name}\t${v.format}\t${v.url}`)
          if (variants.length > 0) return EXIT.ok
        }
        const wanted = [options.preset, options.format].filter(Boolean).join(' ')
        scope.err(`Image ${id} (${image.status}) has no ${wanted ? `${wanted} ` : ''}variant`)
        return EXIT.failed
      }),
    ),
  )
  registerReprocess(images, scope)
}

async function collect<T>(items: AsyncIterable<T>): Promise<T[]> {
  const all: T[] = []
  for await (const item of items) all.push(item)
  return all
}

function listTable(items: Image[], colour: boolean): string {
  const table = new Table({
    head: ['id', 'status', 'visibility', 'format', 'size', 'bytes', 'created'],
    ...tableStyle(colour),
  })
  for (const i of items)
    table.push([
      i.id,
      i.status,
      i.visibility ?? '',
      i.format ?? '',
      i.width && i.height ? `${i.width}×${i.height}` : '',
      i.bytes ? formatBytes(i.bytes) : '',
      i.createdAt ?? '',
    ])
  return `${table.toString()}\n${items.length} images`
}

function describeImage(image: Image, colour: boolean): string {
  const lines = [
    `id          ${image.id}`,
    `status      ${image.status}${image.failure ? ` (${image.failure.code}: ${image.failure.detail})` : ''}`,
    `visibility  ${image.visibility ?? ''}`,
    `original    ${[image.format, image.width && image.height ? `${image.width}×${image.height}` : '', image.bytes ? formatBytes(image.bytes) : ''].filter(Boolean).join(', ')}`,
    `created     ${image.createdAt ?? ''}`,
  ]
  if (image.variants.length === 0) return lines.join('\n')
  const table = new Table({
    head: ['variant', 'format', 'size', 'bytes', 'url'],
    ...tableStyle(colour),
  })
  for (const v of image.variants)
    table.push([v.name, v.format, `${v.width}×${v.height}`, formatBytes(v.bytes), v.url])
  return `${lines.join('\n')}\n${table.toString()}`
}
