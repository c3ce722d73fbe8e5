import { type ChildProcess, spawn, spawnSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { parse } from 'yaml'
import { eventually, GiveUp } from '../fixtures/eventually.js'
import {
  NGINX_TEMPLATE,
  type PixelflowNginx,
  renderNginxTemplate,
  startPixelflowNginx,
} from '../fixtures/pixelflow-nginx.js'
import { createTestDatabases, type TestDatabases } from '../fixtures/postgres.js'
import { freePort } from '../fixtures/serve-process.js'

/**
 * deploy/compose/compose.yaml describes a topology that really runs: our services (migrate, two
 * APIs, the workers, the relay) start as local processes with the command and environment taken
 * only from the parsed file, the engines are mapped to the local ones by ENGINES below (a service
 * it cannot map fails the test), nginx runs deploy/nginx/pixelflow.conf rendered from the nginx
 * service's environment, and an upload through nginx becomes `ready` and its variant is cached.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const COMPOSE_DIR = join(ROOT, 'deploy/compose')
const RUN = `pf${randomBytes(4).toString('hex')}`

type Env = Record<string, string>
interface Service {
  image?: string
  build?: unknown
  command?: string[] | string
  environment?: Env | string[]
  deploy?: { replicas?: number }
  depends_on?: string[] | Record<string, { condition?: string }>
  healthcheck?: unknown
  ports?: string[]
  restart?: string
  container_name?: string
  volumes?: string[]
}
const compose = parse(readFileSync(join(COMPOSE_DIR, 'compose.yaml'), 'utf8'), {
  merge: true,
}) as { services: Record<string, Service> }
const nginxMain = readFileSync(join(COMPOSE_DIR, 'nginx.conf'), 'utf8')
const nginxTemplate = readFileSync(NGINX_TEMPLATE, 'utf8')
const services = compose.services
const NGINX_BINARY = process.env.PIXELFLOW_TEST_NGINX || 'nginx'

/** The repository part of an image reference: `minio/mc:RELEASE…` → `minio/mc`. */
function imageName(service: Service): string {
  return (service.image ?? '').replace(/:[^/]*$/, '')
}

function envOf(service: Service): Env {
  const env = service.environment ?? {}
  if (Array.isArray(env))
    return Object.fromEntries(
      env.map((line) => [line.split('=')[0]!, line.slice(line.indexOf('=') + 1)]),
    )
  return Object.fromEntries(Object.entries(env).map(([k, v]) => [k, String(v)]))
}

/** What stands in for each image of compose.yaml on this machine. */
type Engine =
  | { kind: 'ours' }
  | { kind: 'nginx' }
  | { kind: 'engine'; variable: string; what: string }
  | { kind: 'init'; reason: string }
const ENGINES: Record<string, Engine> = {
  pixelflow: { kind: 'ours' },
  nginx: { kind: 'nginx' },
  postgres: { kind: 'engine', variable: 'PIXELFLOW_TEST_PG_URL', what: 'fresh databases per run' },
  rabbitmq: {
    kind: 'engine',
    variable: 'PIXELFLOW_TEST_RABBITMQ_URL',
    what: 'a queue name per run',
  },
  redis: { kind: 'engine', variable: 'PIXELFLOW_TEST_REDIS_URL', what: 'a key prefix per run' },
  'minio/minio': {
    kind: 'engine',
    variable: 'PIXELFLOW_TEST_S3_URL',
    what: 'a key prefix per run',
  },
  'minio/mc': {
    kind: 'init',
    reason: 'creates the bucket; scripts/s3-server.mjs has created PIXELFLOW_TEST_S3_BUCKET',
  },
}

const engineOf = (name: string) => ENGINES[imageName(services[name]!)]
const ours = Object.keys(services).filter((name) => engineOf(name)?.kind === 'ours')
const apis = ours.filter((name) => commandOf(services[name]!)[2] === 'api')

function commandOf(service: Service): string[] {
  const command = service.command ?? []
  return Array.isArray(command) ? command : command.split(/\s+/)
}

const needed = Object.values(ENGINES).flatMap((e) => (e.kind === 'engine' ? [e.variable] : []))
const missing = [
  ...needed.filter((variable) => !process.env[variable]),
  ...(spawnSync(NGINX_BINARY, ['-v']).error
    ? ['the nginx binary (apt-get install nginx-light; PIXELFLOW_TEST_NGINX)']
    : []),
  ...(existsSync(join(ROOT, 'dist/start/main.js')) ? [] : ['dist/ (npm run build)']),
]
if (missing.length > 0)
  console.info(
    `compose.test.ts: running the compose topology skipped, missing ${missing.join(', ')} (bash .ci/run sets them all)`,
  )

describe('compose.yaml, read', () => {
  it('maps every service to something that runs here', () => {
    for (const [name, service] of Object.entries(services))
      expect(ENGINES[imageName(service)], `service ${name} (${service.image})`).toBeDefined()
    expect(ours.sort()).toEqual(['api-1', 'api-2', 'migrate', 'relay', 'worker'])
  })

  it('runs two APIs behind nginx, at least two workers and one relay', () => {
    expect(apis).toEqual(['api-1', 'api-2'])
    const servers = envOf(services.nginx!).PIXELFLOW_UPSTREAM_SERVERS ?? ''
    const upstream = [...servers.matchAll(/\bserver\s+([\w-]+):(\d+)/g)].map((m) => m[1])
    expect(upstream.sort()).toEqual(apis)
    expect(services.worker!.deploy?.replicas).toBeGreaterThanOrEqual(2)
    expect(commandOf(services.relay!)).toEqual(['node', 'dist/start/main.js', 'relay'])
    for (const api of apis) expect(envOf(services[api]!).PIXELFLOW_RELAY_ENABLED).toBe('false')
  })

  it('publishes only nginx, and names no container of a scaled service', () => {
    const published = Object.entries(services).filter(([, s]) => s.ports?.length)
    expect(published.map(([name]) => name)).toEqual(['nginx'])
    for (const service of Object.values(services)) expect(service.container_name).toBeUndefined()
  })

  it('runs deploy/nginx/pixelflow.conf, with a value for each of its placeholders', () => {
    const volumes = services.nginx!.volumes ?? []
    expect(volumes).toContain(
      '../nginx/pixelflow.conf:/etc/nginx/templates/pixelflow.conf.template:ro',
    )
    expect(volumes).toContain('./nginx.conf:/etc/nginx/nginx.conf:ro')
    // The image renders templates/<name>.template into conf.d/<name>, which nginx.conf includes.
    expect(nginxMain).toMatch(/^\s*include\s+\/etc\/nginx\/conf\.d\/pixelflow\.conf;/m)
    // Throws for a placeholder without a value, or a value without a placeholder.
    expect(renderNginxTemplate(nginxTemplate, envOf(services.nginx!))).not.toMatch(/\$\{/)
  })

  it("lets nginx pass exactly the API's upload limit", () => {
    const size = /client_max_body_size\s+(\d+)([km]?);/i.exec(nginxTemplate)
    const unit = { '': 1, k: 1024, m: 1024 * 1024 }[size![2]!.toLowerCase() as '' | 'k' | 'm']
    for (const api of apis)
      expect(Number(size![1]) * unit).toBe(Number(envOf(services[api]!).PIXELFLOW_MAX_UPLOAD_BYTES))
    expect(nginxTemplate).toMatch(/proxy_request_buffering\s+off;/)
  })

  it('waits for healthy engines that have a health check, and creates every shard database', () => {
    for (const [name, service] of Object.entries(services)) {
      const deps = Array.isArray(service.depends_on) ? {} : (service.depends_on ?? {})
      for (const [target, { condition }] of Object.entries(deps)) {
        expect(services[target], `${name} depends on ${target}`).toBeDefined()
        if (condition === 'service_healthy') expect(services[target]!.healthcheck).toBeDefined()
      }
    }
    const env = envOf(services['api-1']!)
    const shards = env.PIXELFLOW_SHARDS!.split(',').map((url) => new URL(url).pathname.slice(1))
    const created = [
      ...readFileSync(join(COMPOSE_DIR, 'postgres-init.sql'), 'utf8').matchAll(
        /CREATE DATABASE (\w+)/g,
      ),
    ].map((m) => m[1])
    expect(created).toEqual(shards)
    expect(new URL(env.PIXELFLOW_CONTROL_DB!).pathname.slice(1)).toBe(
      envOf(services.postgres!).POSTGRES_DB,
    )
  })
})

describe.skipIf(missing.length > 0)('compose.yaml, running', () => {
  const children: { name: string; child: ChildProcess; output: () => string }[] = []
  const temp = mkdtempSync(join(tmpdir(), 'pf-compose-'))
  let databases: TestDatabases | undefined
  /** compose host:port → the local address that stands in for it. */
  const addresses = new Map<string, string>()
  let nginxUrl = ''
  let nginx: PixelflowNginx | undefined
  const dbNames = new Map<string, string>()

  /** The one place where the compose environment is changed: engine addresses, ports, names per run. */
  function mapEnv(service: Service, port: number): Env {
    const env = envOf(service)
    const mapped: Env = {}
    for (const [key, value] of Object.entries(env)) {
      mapped[key] = value.replace(/\b([a-z][a-z0-9+]*):\/\/[^,\s]+/g, (url) => mapUrl(url, key))
    }
    const rename: Record<string, (v: string) => string> = {
      PIXELFLOW_RABBITMQ_QUEUE: (v) => `${v}.${RUN}`,
      PIXELFLOW_REDIS_PREFIX: (v) => `${v}${RUN}:`,
      PIXELFLOW_S3_BUCKET: () => process.env.PIXELFLOW_TEST_S3_BUCKET ?? 'pixelflow-test',
      PIXELFLOW_PORT: () => String(port),
    }
    for (const [key, f] of Object.entries(rename)) if (key in mapped) mapped[key] = f(mapped[key]!)
    if (mapped.PIXELFLOW_STORAGE_DRIVER === 's3') mapped.PIXELFLOW_S3_PREFIX = `compose-test/${RUN}`
    mapped.PIXELFLOW_HOST = '127.0.0.1'
    mapped.PIXELFLOW_DATA_DIR = join(temp, 'data')
    return mapped
  }

  function mapUrl(raw: string, key: string): string {
    const url = new URL(raw)
    const host = url.hostname
    const service = services[host]
    if (!service) {
      const local = addresses.get(`${host}:${url.port || '80'}`)
      if (!local) throw new Error(`${key}: ${raw} names no compose service and no published port`)
      return raw.replace(`${url.host}`, local)
    }
    const engine = ENGINES[imageName(service)]
    if (engine?.kind !== 'engine') throw new Error(`${key}: ${raw}: ${host} is not an engine`)
    const local = new URL(process.env[engine.variable]!)
    if (url.protocol === 'postgres:') {
      const name = dbNames.get(url.pathname.slice(1))
      if (!name) throw new Error(`${key}: no test database for ${url.pathname}`)
      local.pathname = `/${name}`
      return local.toString()
    }
    if (url.protocol === 'amqp:') {
      // The test broker's vhost and credentials, with the compose URL's options (heartbeat).
      local.search = url.search
      return local.toString()
    }
    return local.toString().replace(/\/$/, '')
  }

  function start(name: string, args: string[], env: Env): ChildProcess {
    const [program, ...rest] = args
    expect(program, `${name} runs node`).toBe('node')
    const child = spawn(process.execPath, rest, {
      cwd: ROOT,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout!.on('data', (d) => (output += d))
    child.stderr!.on('data', (d) => (output += d))
    children.push({ name, child, output: () => output.slice(-4000) })
    return child
  }

  async function healthy(name: string, url: string, child: ChildProcess): Promise<void> {
    await eventually(
      async () => {
        if (child.exitCode !== null)
          throw new GiveUp(`${name} exited: ${children.find((c) => c.child === child)!.output()}`)
        return (await fetch(`${url}/healthz`)).ok
      },
      { timeoutMs: 60_000, intervalMs: 100, message: `${name} healthy` },
    )
  }

  beforeAll(async () => {
    // PostgreSQL: a fresh database for each one compose.yaml names (control and shards).
    const names = new Set<string>()
    for (const name of ours)
      for (const value of Object.values(envOf(services[name]!)))
        for (const m of value.matchAll(/postgres:\/\/[^,\s]+/g))
          names.add(new URL(m[0]).pathname.slice(1))
    databases = await createTestDatabases('pf_compose', names.size)
    ;[...names].forEach((name, i) =>
      dbNames.set(name, new URL(databases!.urls[i]!).pathname.slice(1)),
    )

    // nginx's published port first: PIXELFLOW_PUBLIC_URL (localhost:8080) points at it.
    const nginxPort = await freePort()
    nginxUrl = `http://127.0.0.1:${nginxPort}`
    for (const published of services.nginx!.ports ?? []) {
      const [host] = published.split(':')
      addresses.set(`localhost:${host}`, `127.0.0.1:${nginxPort}`)
    }

    // One-shot services (migrate) run to completion first, as depends_on says.
    for (const name of ours.filter((n) => services[n]!.restart === 'no')) {
      const child = start(name, commandOf(services[name]!), mapEnv(services[name]!, 0))
      const [code] = await once(child, 'exit')
      expect(code, `${name}: ${children.at(-1)!.output()}`).toBe(0)
    }
    const waits: Promise<void>[] = []
    for (const name of ours.filter((n) => services[n]!.restart !== 'no')) {
      const service = services[name]!
      for (let replica = 0; replica < (service.deploy?.replicas ?? 1); replica++) {
        const port = await freePort()
        const child = start(`${name}#${replica}`, commandOf(service), mapEnv(service, port))
        addresses.set(`${name}:${envOf(service).PIXELFLOW_PORT ?? '8080'}`, `127.0.0.1:${port}`)
        waits.push(healthy(`${name}#${replica}`, `http://127.0.0.1:${port}`, child))
      }
    }
    await Promise.all(waits)

    // nginx with deploy/nginx/pixelflow.conf rendered from compose's nginx environment; only
    // the upstream addresses, the listen address and the cache folder change.
    // NGINX_CACHE_DIR: left out, startPixelflowNginx puts the cache in its own folder.
    const { NGINX_CACHE_DIR: _containerPath, ...nginxEnv } = envOf(services.nginx!)
    nginx = await startPixelflowNginx({
      binary: NGINX_BINARY,
      values: {
        ...nginxEnv,
        PIXELFLOW_UPSTREAM_SERVERS: nginxEnv.PIXELFLOW_UPSTREAM_SERVERS!.replace(
          /\b(server\s+)([\w-]+:\d+)/g,
          (_m, head, address) => {
            const local = addresses.get(address)
            if (!local) throw new Error(`nginx upstream ${address} is not running`)
            return `${head}${local}`
          },
        ),
        NGINX_LISTEN: `127.0.0.1:${nginxPort}`,
      },
    })
    await eventually(async () => (await fetch(`${nginxUrl}/healthz`)).ok, {
      timeoutMs: 10_000,
      message: 'the APIs healthy through nginx',
    })
  }, 120_000)

  afterAll(async () => {
    await nginx?.stop()
    await Promise.all(
      children.map(async ({ child }) => {
        if (child.exitCode !== null || child.signalCode !== null) return
        const exited = once(child, 'exit')
        child.kill('SIGTERM')
        await Promise.race([exited, sleep(15_000).then(() => child.kill('SIGKILL'))])
      }),
    )
    await databases?.drop()
    rmSync(temp, { recursive: true, force: true })
  }, 60_000)

  it('takes an upload through nginx and makes it ready', async () => {
    const api = services['api-1']!
    const keys = spawnSync(
      process.execPath,
      [...commandOf(api).slice(1, 2), 'keys', 'create', '--owner', `compose-${RUN}`],
      { cwd: ROOT, env: { PATH: process.env.PATH ?? '', ...mapEnv(api, 0) }, encoding: 'utf8' },
    )
    expect(keys.status, keys.stderr).toBe(0)
    const key = keys.stdout.trim()
    expect(key).toMatch(/^pf_/)

    const upload = await fetch(`${nginxUrl}/v1/images`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'image/jpeg' },
      body: new Uint8Array(await photo()),
    })
    expect(upload.status, await upload.clone().text()).toBe(202)
    const { id } = (await upload.json()) as { id: string }

    const ready = await eventually(
      async () => {
        const res = await fetch(`${nginxUrl}/v1/images/${id}`, {
          headers: { authorization: `Bearer ${key}` },
        })
        const body = (await res.json()) as { status: string; variants?: { url: string }[] }
        if (body.status === 'failed') throw new Error(`failed: ${JSON.stringify(body)}`)
        return body.status === 'ready' ? body : false
      },
      { timeoutMs: 60_000, intervalMs: 250, message: `image ${id} ready through nginx` },
    )
    // The variant links point at nginx (PIXELFLOW_PUBLIC_URL) and come back through it.
    const variant = ready.variants![0]!.url
    expect(variant.startsWith(nginxUrl)).toBe(true)
    const bytes = await fetch(variant)
    expect(bytes.status).toBe(200)
    expect(bytes.headers.get('cache-control')).toContain('immutable')
    expect(bytes.headers.get('x-cache-status')).toBe('MISS')
    const again = await fetch(variant)
    expect(again.headers.get('x-cache-status')).toBe('HIT')
    expect(Buffer.from(await again.arrayBuffer())).toEqual(Buffer.from(await bytes.arrayBuffer()))
  }, 90_000)
})

/** A small photo of the corpus, or one made here when the corpus is absent. */
async function photo(): Promise<Buffer> {
  const corpus = '/work/shared/corpus/photos/FreshFlower.jpg'
  if (existsSync(corpus)) return readFileSync(corpus)
  return sharp({
    create: { width: 1200, height: 800, channels: 3, background: { r: 40, g: 120, b: 200 } },
  })
    .jpeg()
    .toBuffer()
}
