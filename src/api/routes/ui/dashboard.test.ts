import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance } from 'fastify'
import { afterEach, describe, expect, it } from 'vitest'
import { installErrorHandling } from '../../error-handler.js'
import { DASHBOARD_CSP, securityHeaders } from '../../security-headers.js'
import { dashboardRoutes } from './dashboard.js'

const apps: FastifyInstance[] = []
const dirs: string[] = []
afterEach(async () => {
  await Promise.all(apps.splice(0).map((app) => app.close()))
  await Promise.all(dirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })))
})

async function appWith(root: string): Promise<FastifyInstance> {
  const app = Fastify()
  installErrorHandling(app)
  app.addHook('onSend', async (request, reply) => securityHeaders(request, reply))
  await app.register(dashboardRoutes, { root })
  apps.push(app)
  return app
}

async function bundle(): Promise<string> {
  const root = await mkdtemp(join(tmpdir(), 'pf-ui-'))
  dirs.push(root)
  await mkdir(join(root, 'assets'))
  await writeFile(join(root, 'index.html'), '<!doctype html><title>Pixelflow</title>')
  await writeFile(join(root, 'assets', 'index-abc123.js'), 'export {}')
  return root
}

describe('GET /ui', () => {
  it('serves hashed assets immutable, and index.html revalidated for every page path', async () => {
    const app = await appWith(await bundle())
    const asset = await app.inject('/ui/assets/index-abc123.js')
    expect(asset.statusCode).toBe(200)
    expect(asset.headers['cache-control']).toBe('public, max-age=31536000, immutable')
    for (const path of ['/ui/', '/ui/gallery', '/ui/images/abc']) {
      const page = await app.inject(path)
      expect(page.statusCode, path).toBe(200)
      expect(page.headers['content-type'], path).toMatch(/^text\/html/)
      expect(page.headers['cache-control'], path).toBe('no-cache')
      expect(page.headers['content-security-policy'], path).toBe(DASHBOARD_CSP)
    }
    expect((await app.inject('/ui/assets/missing.js')).statusCode).toBe(404)
    expect((await app.inject('/ui/assets/..%2findex.html')).statusCode).not.toBe(200)
  })

  it('redirects / and /ui to /ui/', async () => {
    const app = await appWith(await bundle())
    for (const path of ['/', '/ui']) {
      const answer = await app.inject(path)
      expect(answer.statusCode, path).toBe(302)
      expect(answer.headers.location, path).toBe('/ui/')
    }
  })

  it('answers DASHBOARD_NOT_BUILT when the bundle is absent, and the app still starts', async () => {
    const app = await appWith(join(tmpdir(), 'pf-ui-never-built'))
    const answer = await app.inject('/ui/gallery')
    expect(answer.statusCode).toBe(503)
    expect(answer.headers['content-type']).toMatch(/^application\/problem\+json/)
    expect(answer.json()).toMatchObject({ code: 'DASHBOARD_NOT_BUILT' })
  })
})
