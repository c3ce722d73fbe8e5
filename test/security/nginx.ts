import { type ChildProcess, spawn } from 'node:child_process'
import { once } from 'node:events'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { request } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { eventually, GiveUp } from '../fixtures/eventually.js'
import { freePort } from '../fixtures/serve-process.js'

export interface Nginx {
  port: number
  stop(): Promise<void>
}

/**
 * A real nginx (Debian's nginx-light) in front of the app, as a load balancer would be: it appends
 * the address of whoever connected to it to X-Forwarded-For and keeps what the client sent.
 */
export async function startNginx(upstreamPort: number): Promise<Nginx> {
  const dir = await mkdtemp(join(tmpdir(), 'pixelflow-nginx-'))
  const port = await freePort()
  const conf = join(dir, 'nginx.conf')
  await writeFile(
    conf,
    `worker_processes 1;
error_log ${dir}/error.log warn;
pid ${dir}/nginx.pid;
events { worker_connections 128; }
http {
  access_log off;
  client_body_temp_path ${dir}/body;
  proxy_temp_path ${dir}/proxy;
  fastcgi_temp_path ${dir}/fastcgi;
  uwsgi_temp_path ${dir}/uwsgi;
  scgi_temp_path ${dir}/scgi;
  server {
    listen 127.0.0.1:${port};
    location / {
      proxy_pass http://127.0.0.1:${upstreamPort};
      proxy_set_header Host $host;
      proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
    }
  }
}
`,
  )
  const child: ChildProcess = spawn(
    'nginx',
    ['-p', dir, '-c', conf, '-e', join(dir, 'error.log'), '-g', 'daemon off;'],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  )
  let output = ''
  child.stdout!.on('data', (d) => (output += d))
  child.stderr!.on('data', (d) => (output += d))
  const exited = once(child, 'exit')
  await eventually(
    async () => {
      if (child.exitCode !== null) throw new GiveUp(`nginx exited: ${output}`)
      const res = await fetch(`http://127.0.0.1:${port}/healthz`)
      if (!res.ok) throw new Error(`nginx answered ${res.status}`)
    },
    { timeoutMs: 10_000, intervalMs: 50, message: 'nginx proxies to the app' },
  )
  return {
    port,
    async stop() {
      if (child.exitCode === null) child.kill('SIGTERM')
      await exited
      await rm(dir, { recursive: true, force: true })
    },
  }
}

/**
 * A GET through the proxy from a chosen loopback address (the client's "real" IP, which nginx
 * sees and appends), with whatever X-Forwarded-For the client claims.
 */
export function getVia(
  port: number,
  path: string,
  options: { from: string; forwardedFor?: string; headers?: Record<string, string> },
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: '127.0.0.1',
        port,
        path,
        localAddress: options.from,
        headers: {
          ...(options.forwardedFor ? { 'x-forwarded-for': options.forwardedFor } : {}),
          ...options.headers,
        },
      },
      (res) => {
        let body = ''
        res.on('data', (d) => (body += d))
        res.on('end', () => resolve({ status: res.statusCode!, body }))
      },
    )
    req.on('error', reject)
    req.end()
  })
}
