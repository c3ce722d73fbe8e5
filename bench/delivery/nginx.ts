/**
 * nginx for the delivery part, two ways, each its own nginx (master + one worker) with the same
 * main file:
 *   cache   deploy/nginx/pixelflow.conf (the shipped template, rendered by the test fixture's
 *           renderNginxTemplate, as an install renders it with envsubst) in front of Pixelflow:
 *           proxy_cache on /t/, key `$uri$is_args$args|$pf_format`;
 *   static  the same files served from a folder (`root`), with Pixelflow's Cache-Control.
 * Run as root, nginx's worker runs as `nobody`: the folders it reads are made 0755.
 */
import { type ChildProcess, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { chmod, cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { freePort } from '../e2e/processes.js'
import { sleep } from '../harness/async.js'

export interface Nginx {
  url: string
  /** The one worker: the process that serves, whose CPU and peak RSS are read. */
  workerPid: number
  /** Where the config came from: the shipped template, or the bench's own minimal one. */
  config: 'deploy/nginx/pixelflow.conf' | 'bench minimal proxy_cache'
  errorLog(): Promise<string>
  stop(): Promise<void>
}

/** PIXELFLOW_TEST_NGINX (as the test fixture), else /usr/sbin/nginx, else `nginx` on the PATH. */
export function nginxBinary(): string | null {
  if (process.env.PIXELFLOW_TEST_NGINX) return process.env.PIXELFLOW_TEST_NGINX
  if (existsSync('/usr/sbin/nginx')) return '/usr/sbin/nginx'
  const onPath = (process.env.PATH ?? '')
    .split(':')
    .map((dir) => join(dir, 'nginx'))
    .find((path) => existsSync(path))
  return onPath ?? null
}

/** The template and its renderer from test/fixtures/pixelflow-nginx.ts, when that file is there. */
async function shippedTemplate(): Promise<{
  template: string
  render: (template: string, values: Record<string, string>) => string
} | null> {
  try {
    const fixture = await import('../../test/fixtures/pixelflow-nginx.js')
    return {
      template: await readFile(fixture.NGINX_TEMPLATE, 'utf8'),
      render: fixture.renderNginxTemplate,
    }
  } catch {
    return null
  }
}

/** Without the shipped template: the least that caches /t/ with the same key. */
function minimalCacheConfig(listen: string, upstream: string, cacheDir: string): string {
  return `proxy_cache_path ${cacheDir} levels=1:2 keys_zone=pixelflow:50m max_size=1g inactive=7d use_temp_path=off;
upstream pixelflow { server ${upstream}; keepalive 32; }
server {
  listen ${listen};
  proxy_http_version 1.1;
  proxy_set_header Connection "";
  location /t/ {
    proxy_pass http://pixelflow;
    proxy_cache pixelflow;
    proxy_cache_key $uri$is_args$args;
    proxy_cache_valid 200 10m;
    proxy_cache_lock on;
    add_header X-Cache-Status $upstream_cache_status always;
  }
  location / { proxy_pass http://pixelflow; }
}
`
}

function staticConfig(listen: string, root: string): string {
  return `types { image/webp webp; image/jpeg jpg; }
default_type application/octet-stream;
server {
  listen ${listen};
  root ${root};
  location / {
    add_header Cache-Control "public, max-age=31536000, immutable";
  }
}
`
}

/**
 * Starts nginx: `cache` in front of `upstream` (host:port), or `static` serving a copy of
 * `staticDir`. Resolves once its port accepts connections.
 */
export async function startNginx(
  binary: string,
  mode: { kind: 'cache'; upstream: string } | { kind: 'static'; staticDir: string },
): Promise<Nginx> {
  const base = process.env.BENCH_DELIVERY_TMPDIR || tmpdir()
  const dir = await mkdtemp(join(base, `pixelflow-bench-nginx-${mode.kind}-`))
  await chmod(dir, 0o755)
  const port = await freePort()
  const listen = `127.0.0.1:${port}`
  let server: string
  let config: Nginx['config'] = 'bench minimal proxy_cache'
  if (mode.kind === 'cache') {
    const shipped = await shippedTemplate()
    const cacheDir = join(dir, 'cache')
    if (shipped) {
      config = 'deploy/nginx/pixelflow.conf'
      server = shipped.render(shipped.template, {
        PIXELFLOW_UPSTREAM_SERVERS: `server ${mode.upstream};`,
        NGINX_LISTEN: listen,
        NGINX_CACHE_DIR: cacheDir,
        NGINX_CACHE_MAX_SIZE: '1g',
      })
    } else server = minimalCacheConfig(listen, mode.upstream, cacheDir)
  } else {
    const root = join(dir, 'static')
    await cp(mode.staticDir, root, { recursive: true })
    await chmod(root, 0o755)
    for (const name of await readdir(root)) await chmod(join(root, name), 0o644)
    server = staticConfig(listen, root)
  }
  await writeFile(join(dir, 'server.conf'), server)
  const errorLog = join(dir, 'error.log')
  // Like the test fixture's main file, plus sendfile (Debian's default nginx.conf has it on).
  await writeFile(
    join(dir, 'nginx.conf'),
    `worker_processes 1;
error_log ${errorLog} warn;
pid ${join(dir, 'nginx.pid')};
events { worker_connections 1024; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path ${join(dir, 'client_temp')};
  proxy_temp_path ${join(dir, 'proxy_temp')};
  fastcgi_temp_path ${join(dir, 'fastcgi_temp')};
  uwsgi_temp_path ${join(dir, 'uwsgi_temp')};
  scgi_temp_path ${join(dir, 'scgi_temp')};
  include ${join(dir, 'server.conf')};
}
`,
  )
  const child: ChildProcess = spawn(
    binary,
    ['-p', dir, '-c', join(dir, 'nginx.conf'), '-e', errorLog, '-g', 'daemon off;'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  const tail = async () =>
    `${output}${await readFile(errorLog, 'utf8').catch(() => '')}`.slice(-4000)

  const stop = async () => {
    const workers = child.pid ? await childrenOf(child.pid) : []
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGQUIT')
      const quit = await Promise.race([exited.then(() => true), sleep(5000).then(() => false)])
      if (!quit) child.kill('SIGKILL')
      await exited
    }
    // A master killed outright leaves its workers behind, holding the port.
    for (const pid of workers) {
      try {
        process.kill(pid, 'SIGKILL')
      } catch {}
    }
    await rm(dir, { recursive: true, force: true })
  }

  try {
    const deadline = Date.now() + 10_000
    while (!(await accepts(port))) {
      if (child.exitCode !== null || child.signalCode !== null)
        throw new Error(`nginx exited: ${await tail()}`)
      if (Date.now() > deadline) throw new Error(`nginx not listening on ${port}: ${await tail()}`)
      await sleep(50)
    }
    const workerPid = (await childrenOf(child.pid!, 'worker process'))[0]
    if (workerPid === undefined) throw new Error('nginx has no worker process')
    return { url: `http://${listen}`, workerPid, config, errorLog: tail, stop }
  } catch (error) {
    await stop()
    throw error
  }
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => {
      socket.destroy()
      resolve(true)
    })
    socket.once('error', () => resolve(false))
  })
}

/** The processes whose parent is `pid`, or only those whose command line contains `title`. */
async function childrenOf(pid: number, title?: string): Promise<number[]> {
  const found: number[] = []
  for (const entry of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(entry)) continue
    const stat = await readFile(`/proc/${entry}/stat`, 'utf8').catch(() => '')
    // pid (comm) state ppid …: comm may hold spaces, so read after its closing parenthesis.
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1])
    if (ppid !== pid) continue
    if (title) {
      const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '')
      if (!cmdline.includes(title)) continue
    }
    found.push(Number(entry))
  }
  return found
}
