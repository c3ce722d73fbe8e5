import { spawn, spawnSync } from 'node:child_process'
import { once } from 'node:events'
import {
  cpSync,
  existsSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs'
import { builtinModules } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { setTimeout as sleep } from 'node:timers/promises'
import { fileURLToPath } from 'node:url'
import { type Dockerfile, DockerfileParser, type Instruction } from 'dockerfile-ast'
import { afterAll, describe, expect, it } from 'vitest'
import { PROCESS_ENV } from '../../deploy/process-env.js'
import { eventually, GiveUp } from '../fixtures/eventually.js'
import { freePort } from '../fixtures/serve-process.js'

/**
 * The Dockerfile cannot be built here (no registry for the base images, and `podman run` fails
 * with setrlimit RLIMIT_NPROC), so it is parsed with dockerfile-ast and held to our rules, and its
 * final stage's command and health check run as local processes from a production-shaped folder.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const text = readFileSync(join(ROOT, 'Dockerfile'), 'utf8')
const dockerfile: Dockerfile = DockerfileParser.parse(text)
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  dependencies: Record<string, string>
  devDependencies: Record<string, string>
}

interface Stage {
  name: string | null
  image: string
  instructions: Instruction[]
}

/** Instructions grouped by FROM, with global ARG defaults substituted into the image. */
function stages(): Stage[] {
  const args = new Map(
    dockerfile
      .getInitialARGs()
      .flatMap((arg) => arg.getProperties().map((p) => [p.getName(), p.getValue() ?? ''] as const)),
  )
  const out: Stage[] = []
  for (const instruction of dockerfile.getInstructions()) {
    if (instruction.getKeyword() === 'FROM') {
      const from = instruction as unknown as { getImage(): string; getBuildStage(): string | null }
      const image = from
        .getImage()
        .replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a, b) => args.get(a ?? b) ?? '')
      out.push({ name: from.getBuildStage(), image, instructions: [] })
    } else out.at(-1)?.instructions.push(instruction)
  }
  return out
}

const all = stages()
const final = all.at(-1)!
const build = all[0]!
const of = (stage: Stage, keyword: string) =>
  stage.instructions.filter((i) => i.getKeyword() === keyword)
const content = (i: Instruction) => i.getArgumentsContent() ?? ''
/** COPY's --from stage (dockerfile-ast keeps flags out of the arguments). */
const fromFlag = (i: Instruction) =>
  (i as unknown as { getFromFlag(): { getValue(): string | null } | null })
    .getFromFlag()
    ?.getValue() ?? null
/** The JSON array of an exec-form instruction (CMD, ENTRYPOINT, HEALTHCHECK … CMD). */
function execForm(i: Instruction): string[] {
  const json = /(\[.*\])\s*$/s.exec(content(i))
  expect(json, `${i.getKeyword()} uses the exec form`).not.toBeNull()
  return JSON.parse(json![1]!.replace(/\\\r?\n/g, ''))
}

describe('Dockerfile rules', () => {
  it('builds in one stage and runs from a slim Node image in another', () => {
    expect(all.length).toBeGreaterThanOrEqual(2)
    expect(build.name).toBe('build')
    const runs = of(build, 'RUN').map(content).join('\n')
    expect(runs).toMatch(/npm ci(?![^\n]*--omit=dev)/)
    expect(runs).toContain('npm run build')
    expect(final.image).toMatch(/^node:(\d+)[\w.-]*-slim$/)
    const major = Number(/^node:(\d+)/.exec(final.image)![1])
    expect(major).toBeGreaterThanOrEqual(20)
    expect(build.image.split(':')[1]!.startsWith(`${major}.`)).toBe(true)
  })

  it('installs production dependencies only in the final stage, and no compiler', () => {
    const runs = of(final, 'RUN').map(content)
    const npm = runs.flatMap((r) =>
      [...r.matchAll(/npm (ci|install|i)\b[^&;\n]*/g)].map((m) => m[0]),
    )
    expect(npm).toEqual([expect.stringMatching(/^npm ci --omit=dev\b/)])
    const apt = runs.join('\n').match(/apt-get install[^&\n]*/g) ?? []
    expect(apt.join(' ')).toMatch(/\btini\b/)
    // libvips comes from sharp's prebuilt package; no compiler, no TypeScript.
    expect(apt.join(' ')).not.toMatch(/libvips|build-essential|g\+\+|gcc|make|python|typescript/)
    expect(runs.join('\n')).not.toMatch(/\btsc\b|npm run build/)
  })

  it('copies only the compiled output from the build stage (server, client workspace, dashboard)', () => {
    const fromBuild = of(final, 'COPY').filter((i) => fromFlag(i) !== null)
    expect(
      fromBuild.map((i) => `--from=${fromFlag(i)} ${content(i).replace(/\s+/g, ' ')}`),
    ).toEqual([
      `--from=${build.name} /app/packages/client/dist ./packages/client/dist`,
      `--from=${build.name} /app/dist ./dist`,
      `--from=${build.name} /app/ui/dist ./ui/dist`,
    ])
  })

  it('runs as a non-root user, under tini, with a health check on /healthz and the serve command', () => {
    const users = of(final, 'USER').map(content)
    expect(users.length).toBeGreaterThan(0)
    expect(users.at(-1)!.split(':')[0]).not.toMatch(/^(root|0)$/)
    // USER comes after the last RUN: nothing runs as root afterwards by mistake, and the runtime
    // user is the one Kubernetes' runAsUser: 1000 names.
    const keywords = final.instructions.map((i) => i.getKeyword())
    expect(keywords.lastIndexOf('USER')).toBeGreaterThan(keywords.lastIndexOf('RUN'))
    expect(users.at(-1)).toBe('1000:1000')
    expect(execForm(of(final, 'ENTRYPOINT')[0]!)).toEqual(['/usr/bin/tini', '--'])
    expect(execForm(of(final, 'CMD')[0]!)).toEqual(['node', 'dist/start/main.js', 'serve'])
    const health = of(final, 'HEALTHCHECK')
    expect(health).toHaveLength(1)
    const probe = execForm(health[0]!)
    expect(probe[0]).toBe('node') // curl is not in the slim image
    expect(probe.join(' ')).toContain('/healthz')
  })

  it('sends only what the build copies to the build context', () => {
    const ignore = readFileSync(join(ROOT, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l && !l.startsWith('#'))
    expect(ignore[0]).toBe('*')
    const allowed = ignore.filter((l) => l.startsWith('!')).map((l) => l.slice(1))
    const sources = all
      .flatMap((s) => of(s, 'COPY'))
      .filter((i) => fromFlag(i) === null)
      .flatMap((i) => {
        const parts = content(i).split(/\s+/)
        return parts.slice(0, -1)
      })
    // A source is sent when it or a folder above it is allowed (packages/client/package.json).
    const sent = (source: string) =>
      allowed.some((entry) => source === entry || source.startsWith(`${entry}/`))
    for (const source of sources) expect(sent(source), `COPY ${source}`).toBe(true)
    for (const source of sources) expect(existsSync(join(ROOT, source)), source).toBe(true)
  })

  it('needs no dev dependency at run time: every package dist/ imports is a dependency', () => {
    const dist = join(ROOT, 'dist')
    if (!existsSync(dist)) throw new Error('dist/ is missing: run npm run build')
    const imported = new Set<string>()
    const walk = (dir: string) => {
      for (const entry of readdirSync(dir, { withFileTypes: true })) {
        const path = join(dir, entry.name)
        if (entry.isDirectory()) walk(path)
        else if (entry.name.endsWith('.js'))
          for (const m of readFileSync(path, 'utf8').matchAll(
            /(?:from\s+|import\s*\(\s*|import\s+)['"]([^'".][^'"]*)['"]/g,
          ))
            imported.add(m[1]!)
      }
    }
    walk(dist)
    const packages = [...imported]
      .filter((s) => !s.startsWith('node:') && !builtinModules.includes(s))
      .map((s) => (s.startsWith('@') ? s.split('/').slice(0, 2).join('/') : s.split('/')[0]!))
    expect(packages.length).toBeGreaterThan(5)
    for (const name of new Set(packages))
      expect(Object.keys(pkg.dependencies), name).toContain(name)
  })
})

describe('Dockerfile final stage, run here', () => {
  const temp = mkdtempSync(join(tmpdir(), 'pf-image-'))
  afterAll(() => rmSync(temp, { recursive: true, force: true }))

  it('starts the CMD from a folder shaped like /app, answers the HEALTHCHECK, and stops on SIGTERM through tini', async () => {
    // /app: package.json, a copy of dist (so nothing outside it can be reached), node_modules.
    const app = join(temp, 'app')
    cpSync(join(ROOT, 'dist'), join(app, 'dist'), { recursive: true })
    cpSync(join(ROOT, 'package.json'), join(app, 'package.json'))
    symlinkSync(join(ROOT, 'node_modules'), join(app, 'node_modules'), 'dir')

    const env: Record<string, string> = {}
    for (const i of of(final, 'ENV'))
      for (const p of (
        i as unknown as { getProperties(): { getName(): string; getValue(): string }[] }
      ).getProperties())
        env[p.getName()] = p.getValue()
    expect(env.PIXELFLOW_DATA_DIR).toBe('/data')
    // The memory settings npm start gives the one-process service (deploy/process-env.ts).
    expect(env).toMatchObject(PROCESS_ENV)
    const port = await freePort()
    // The image's environment with the local paths and port: /data and 0.0.0.0:8080 are the container's.
    Object.assign(env, {
      PIXELFLOW_DATA_DIR: join(temp, 'data'),
      PIXELFLOW_PORT: String(port),
      PIXELFLOW_HOST: '127.0.0.1',
    })

    const entrypoint = execForm(of(final, 'ENTRYPOINT')[0]!)
    const tini = existsSync(entrypoint[0]!)
    if (!tini)
      console.info(
        `dockerfile.test.ts: ${entrypoint[0]} is not installed here; running the CMD without it`,
      )
    const [node, ...args] = execForm(of(final, 'CMD')[0]!)
    expect(node).toBe('node')
    const argv = [...(tini ? entrypoint : []), process.execPath, ...args]
    const child = spawn(argv[0]!, argv.slice(1), {
      cwd: app,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    })
    let output = ''
    child.stdout!.on('data', (d) => (output += d))
    child.stderr!.on('data', (d) => (output += d))
    const exited = once(child, 'exit')
    try {
      const [probe, ...probeArgs] = execForm(of(final, 'HEALTHCHECK')[0]!)
      expect(probe).toBe('node')
      await eventually(
        () => {
          if (child.exitCode !== null) throw new GiveUp(`serve exited: ${output}`)
          return (
            spawnSync(process.execPath, probeArgs, { env: { ...env }, timeout: 3000 }).status === 0
          )
        },
        { timeoutMs: 30_000, intervalMs: 200, message: 'the HEALTHCHECK passes' },
      )
      expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200)
      child.kill('SIGTERM')
      const [code, signal] = await Promise.race([
        exited,
        sleep(20_000).then(() => ['timeout', null]),
      ])
      // tini passes SIGTERM on and exits with Node's code: a clean shutdown is 0.
      expect({ code, signal, output: code === 0 ? '' : output }).toEqual({
        code: 0,
        signal: null,
        output: '',
      })
      expect(output).toContain('shut down')
    } finally {
      if (child.exitCode === null) child.kill('SIGKILL')
    }
  }, 60_000)
})
