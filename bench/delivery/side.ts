/**
 * One server of the delivery part that is not Pixelflow or nginx, in its own process. run.ts
 * compiles this file with esbuild and starts it with plain `node` (no tsx loader, which adds
 * ~20 MB to a process), as Pixelflow runs from dist/, so peak RSS compares servers, not loaders.
 * Only Node built-ins are imported statically: each mode loads its own server library.
 *
 * BENCH_DELIVERY_SERVER is:
 *   ipx          ipx's own Node server (createIPX + ipxFSStorage + createIPXNodeServer) on the
 *                sources folder, with the sharp ipx installs for itself; URL /w_<n>,q_80,f_webp/<file>
 *   ipx-sharp    the same, with ipx's `import('sharp')` resolved to the project's sharp
 *   sharp        a bare node:http server: read the source file, then
 *                sharp(buffer).resize({ width }).webp({ quality }).toBuffer(); URL /<width>/<file>
 *   static       Fastify + @fastify/static on a folder of files; URL /<file>
 * BENCH_DELIVERY_DIR is the folder it serves, BENCH_DELIVERY_QUALITY the WebP quality (sharp side).
 *
 * It sends the parent { url } once listening, and on any message closes and exits. The parent
 * reads its CPU and peak RSS from /proc.
 */
import { readFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { createRequire, register } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'

export type SideServer = 'ipx' | 'ipx-sharp' | 'sharp' | 'static'

export interface SideReady {
  url: string
  /** sharp and libvips as this process loaded them (ipx's own, or the project's). */
  sharp: string | null
  vips: string | null
}

const HOST = '127.0.0.1'
const dir = process.env.BENCH_DELIVERY_DIR!
const quality = Number(process.env.BENCH_DELIVERY_QUALITY ?? 80)

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject)
    server.listen(0, HOST, () => {
      const { port } = server.address() as { port: number }
      resolve(`http://${HOST}:${port}`)
    })
  })
}

/**
 * Makes `import('sharp')` inside ipx load the project's sharp (hooks run before ipx is imported).
 * The hook is a data: URL, so it needs no file of its own.
 */
function ipxOnProjectSharp(): void {
  const ours = import.meta.resolve('sharp')
  const hook = `export async function resolve(specifier, context, next) {
  if (specifier === 'sharp' && (context.parentURL ?? '').includes('/node_modules/ipx/'))
    return next(${JSON.stringify(ours)}, context)
  return next(specifier, context)
}`
  register(`data:text/javascript,${encodeURIComponent(hook)}`)
}

/**
 * The sharp (and libvips) a server uses: for ipx as installed, the copy its own import('sharp')
 * resolves (a nested node_modules/sharp when its range excludes ours); otherwise the project's.
 */
async function sharpVersions(asIpxResolves: boolean): Promise<Pick<SideReady, 'sharp' | 'vips'>> {
  const path = asIpxResolves
    ? createRequire(fileURLToPath(import.meta.resolve('ipx'))).resolve('sharp')
    : null
  const module = path ? await import(pathToFileURL(path).href) : await import('sharp')
  const sharp = module.default ?? module
  return { sharp: sharp.versions.sharp ?? null, vips: sharp.versions.vips ?? null }
}

async function startIpx(projectSharp: boolean): Promise<{ server: Server; ready: SideReady }> {
  if (projectSharp) ipxOnProjectSharp()
  const { createIPX, createIPXNodeServer, ipxFSStorage } = await import('ipx')
  const ipx = createIPX({ storage: ipxFSStorage({ dir }) })
  const server = createServer(createIPXNodeServer(ipx))
  const url = await listen(server)
  return { server, ready: { url, ...(await sharpVersions(!projectSharp)) } }
}

async function startSharp(): Promise<{ server: Server; ready: SideReady }> {
  const sharp = (await import('sharp')).default
  const server = createServer(async (request, response) => {
    const match = /^\/(\d+)\/([A-Za-z0-9.-]+)$/.exec(request.url ?? '')
    if (!match) {
      response.writeHead(404).end()
      return
    }
    try {
      const source = await readFile(join(dir, match[2]!))
      const body = await sharp(source)
        .resize({ width: Number(match[1]) })
        .webp({ quality })
        .toBuffer()
      response.writeHead(200, { 'content-type': 'image/webp', 'content-length': body.length })
      response.end(body)
    } catch (error) {
      response.writeHead(500).end(String(error))
    }
  })
  const url = await listen(server)
  return { server, ready: { url, sharp: sharp.versions.sharp, vips: sharp.versions.vips } }
}

async function startStatic(): Promise<{ close(): Promise<void>; ready: SideReady }> {
  const { default: Fastify } = await import('fastify')
  const { default: fastifyStatic } = await import('@fastify/static')
  const app = Fastify({ logger: false })
  // The headers Pixelflow sends for a public derived object: immutable for a year, an ETag.
  await app.register(fastifyStatic, { root: dir, prefix: '/', maxAge: '365d', immutable: true })
  const url = await app.listen({ host: HOST, port: 0 })
  return { close: () => app.close(), ready: { url, sharp: null, vips: null } }
}

async function main(): Promise<void> {
  const mode = process.env.BENCH_DELIVERY_SERVER as SideServer
  let close: () => Promise<void>
  let ready: SideReady
  if (mode === 'static') ({ close, ready } = await startStatic())
  else {
    const started = mode === 'sharp' ? await startSharp() : await startIpx(mode === 'ipx-sharp')
    ready = started.ready
    close = () =>
      new Promise((resolve) => {
        started.server.closeAllConnections()
        started.server.close(() => resolve())
      })
  }
  process.once('message', async () => {
    await close()
    process.exit(0)
  })
  process.send!(ready)
}

main().catch((error: unknown) => {
  process.send!(
    { error: error instanceof Error ? (error.stack ?? error.message) : String(error) },
    () => process.exit(1),
  )
})
