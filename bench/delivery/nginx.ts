/**
 * nginx for the delivery part, two ways, each its own nginx (master + one worker) started by the
 * test fixture (test/fixtures/pixelflow-nginx.ts), so the same main file runs both:
 *   cache   deploy/nginx/pixelflow.conf, rendered as an install renders it, in front of
 *           Pixelflow: proxy_cache on /t/, key `$uri$is_args$args|$pf_format`;
 *   static  the same files served from a folder (`root`), with Pixelflow's Cache-Control.
 * Run as root, nginx's worker runs as `nobody`: the folders it reads are made 0755.
 */
import { existsSync } from 'node:fs'
import { chmod, cp, readdir } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  childrenOf,
  type NginxProcess,
  nginxDir,
  startNginx as startNginxProcess,
  startPixelflowNginx,
} from '../../test/fixtures/pixelflow-nginx.js'
import { freePort } from '../e2e/processes.js'

export interface Nginx {
  url: string
  /** The one worker: the process that serves, whose CPU and peak RSS are read. */
  workerPid: number
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
  const baseDir = process.env.BENCH_DELIVERY_TMPDIR || tmpdir()
  const nginx: NginxProcess =
    mode.kind === 'cache'
      ? await startPixelflowNginx({
          upstreams: [mode.upstream],
          values: { NGINX_CACHE_MAX_SIZE: '1g' },
          binary,
          baseDir,
        })
      : await startStatic(binary, baseDir, mode.staticDir)
  const workerPid = (await childrenOf(nginx.pid, 'worker process'))[0]
  if (workerPid === undefined) {
    await nginx.stop()
    throw new Error('nginx has no worker process')
  }
  return { url: nginx.url, workerPid, errorLog: nginx.errorLog, stop: nginx.stop }
}

async function startStatic(binary: string, baseDir: string, staticDir: string) {
  const dir = await nginxDir(baseDir)
  const root = join(dir, 'static')
  await cp(staticDir, root, { recursive: true })
  await chmod(root, 0o755)
  for (const name of await readdir(root)) await chmod(join(root, name), 0o644)
  const port = await freePort()
  const httpConfig = staticConfig(`127.0.0.1:${port}`, root)
  return startNginxProcess({ dir, port, httpConfig, binary })
}
