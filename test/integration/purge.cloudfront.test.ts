import { randomUUID } from 'node:crypto'
import { once } from 'node:events'
import { createServer, request, type Server } from 'node:http'
import type { AddressInfo } from 'node:net'
import {
  CloudFrontClient,
  CreateDistributionCommand,
  DeleteDistributionCommand,
  GetDistributionConfigCommand,
  GetInvalidationCommand,
  ListInvalidationsCommand,
  UpdateDistributionCommand,
} from '@aws-sdk/client-cloudfront'
import { afterAll, afterEach, describe, expect, it, vi } from 'vitest'
import { createPurger } from '../../src/purge/create-purger.js'
import {
  type CloudFrontPurgerOptions,
  createCloudFrontPurger,
} from '../../src/purge/drivers/cloudfront.js'
import type { Purger } from '../../src/purge/purger.js'
import { describePurger } from '../contracts/purger.contract.js'
import { freePort } from '../fixtures/serve-process.js'

const ENDPOINT = process.env.PIXELFLOW_TEST_CLOUDFRONT_ENDPOINT ?? ''
if (!ENDPOINT)
  console.info(
    'purge.cloudfront.test.ts skipped: start `moto_server -p 4577 &` and set PIXELFLOW_TEST_CLOUDFRONT_ENDPOINT=http://127.0.0.1:4577 to run it',
  )
/** moto takes any credentials. */
const CREDENTIALS = { accessKeyId: 'test', secretAccessKey: 'test' }

describe.skipIf(!ENDPOINT)('CloudFront purger (moto)', () => {
  const client = new CloudFrontClient({
    region: 'us-east-1',
    endpoint: ENDPOINT,
    credentials: CREDENTIALS,
  })
  const distributions: string[] = []
  const opened: Purger[] = []
  const servers: Server[] = []

  afterEach(async () => {
    await Promise.all(opened.splice(0).map((purger) => purger.close()))
    await Promise.all(servers.splice(0).map((server) => closeServer(server)))
  })
  afterAll(async () => {
    for (const id of distributions) await deleteDistribution(id)
    client.destroy()
  })

  /** A distribution of its own per test, so that its invalidations are the test's alone. */
  async function distribution(): Promise<string> {
    const out = await client.send(
      new CreateDistributionCommand({
        DistributionConfig: {
          CallerReference: `pixelflow-test-${randomUUID()}`,
          Comment: 'pixelflow purge test',
          Enabled: true,
          Origins: {
            Quantity: 1,
            Items: [
              {
                Id: 'pixelflow',
                DomainName: 'origin.pixelflow.test',
                CustomOriginConfig: {
                  HTTPPort: 80,
                  HTTPSPort: 443,
                  OriginProtocolPolicy: 'http-only',
                },
              },
            ],
          },
          DefaultCacheBehavior: {
            TargetOriginId: 'pixelflow',
            ViewerProtocolPolicy: 'allow-all',
            // The managed CachingOptimized policy.
            CachePolicyId: '658327ea-f89d-4fab-a63d-7e88639e58f6',
          },
        },
      }),
    )
    distributions.push(out.Distribution!.Id!)
    return out.Distribution!.Id!
  }

  /** CloudFront deletes only a disabled distribution, naming its current ETag. */
  async function deleteDistribution(id: string): Promise<void> {
    const current = await client.send(new GetDistributionConfigCommand({ Id: id }))
    const disabled = await client.send(
      new UpdateDistributionCommand({
        Id: id,
        IfMatch: current.ETag,
        DistributionConfig: { ...current.DistributionConfig!, Enabled: false },
      }),
    )
    await client.send(new DeleteDistributionCommand({ Id: id, IfMatch: disabled.ETag }))
  }

  async function open(
    distributionId: string,
    options: Partial<CloudFrontPurgerOptions> = {},
  ): Promise<Purger> {
    const purger = await createCloudFrontPurger({
      distributionId,
      endpoint: ENDPOINT,
      ...CREDENTIALS,
      batchMs: 200,
      retry: { attempts: 3, baseMs: 20 },
      ...options,
    })
    opened.push(purger)
    return purger
  }

  /** Every invalidation of the distribution, oldest first, with its paths. */
  async function invalidations(distributionId: string): Promise<string[][]> {
    const list = await client.send(
      new ListInvalidationsCommand({ DistributionId: distributionId, MaxItems: 1000 }),
    )
    const items = [...(list.InvalidationList?.Items ?? [])].sort(
      (a, b) => a.CreateTime!.getTime() - b.CreateTime!.getTime(),
    )
    const batches: string[][] = []
    for (const item of items) {
      const out = await client.send(
        new GetInvalidationCommand({ DistributionId: distributionId, Id: item.Id! }),
      )
      batches.push(out.Invalidation!.InvalidationBatch!.Paths!.Items ?? [])
    }
    return batches
  }

  /**
   * An HTTP proxy to moto that answers the first `failures` CreateInvalidation requests itself
   * with `status` (without passing them on), and counts them all.
   */
  async function flakyProxy(failures: number, status = 503) {
    const target = new URL(ENDPOINT)
    const seen = { invalidations: 0 }
    const server = createServer((req, res) => {
      const invalidation = req.method === 'POST' && /\/invalidation$/.test(req.url ?? '')
      if (invalidation && seen.invalidations++ < failures) {
        req.resume()
        res.writeHead(status, { 'content-type': 'text/xml' })
        return void res.end(
          '<ErrorResponse><Error><Type>Receiver</Type><Code>ServiceUnavailable</Code><Message>try again</Message></Error></ErrorResponse>',
        )
      }
      const upstream = request(
        {
          host: target.hostname,
          port: target.port,
          method: req.method,
          path: req.url,
          headers: req.headers,
        },
        (answer) => {
          res.writeHead(answer.statusCode!, answer.headers)
          answer.pipe(res)
        },
      )
      upstream.on('error', () => res.destroy())
      req.pipe(upstream)
    })
    server.listen(0, '127.0.0.1')
    await once(server, 'listening')
    servers.push(server)
    return { endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen }
  }

  // The port's contract, on a distribution of its own per test.
  let contractDistribution = ''
  describePurger('cloudfront', {
    async open() {
      contractDistribution = await distribution()
      return createCloudFrontPurger({
        distributionId: contractDistribution,
        endpoint: ENDPOINT,
        ...CREDENTIALS,
        batchMs: 50,
      })
    },
    async purged(path) {
      const sent = (await invalidations(contractDistribution)).flat()
      const image = /^\/i\/([^/]+)\//.exec(path)
      return sent.includes(image ? `/i/${image[1]}/*` : path)
    },
  })

  it('gathers the purges of one window into one invalidation, /i/<id>/… as /i/<id>/*', async () => {
    const id = await distribution()
    const purger = await open(id, { batchMs: 1000 })
    const purges = [
      purger.purge(['/i/aaa/thumb.webp', '/i/aaa/medium.avif']),
      purger.purge(['/i/aaa/thumb', '/i/bbb/large']),
      purger.purge(['/t/s1g/w:100,f:auto/ccc', '/t/s1g/w:100/ccc.webp']),
    ]
    // Nothing is sent before the window closes.
    expect(await invalidations(id)).toEqual([])
    await Promise.all(purges)
    // Once a purge resolves, its invalidation exists.
    const [batch, ...others] = await invalidations(id)
    expect(others).toEqual([])
    expect(batch!.sort()).toEqual([
      '/i/aaa/*',
      '/i/bbb/*',
      '/t/s1g/w:100,f:auto/ccc',
      '/t/s1g/w:100/ccc.webp',
    ])

    // The next window is the next invalidation.
    await purger.purge(['/i/ddd/thumb.webp'])
    expect(await invalidations(id)).toEqual([batch, ['/i/ddd/*']])
  })

  it('splits more than 3000 paths into invalidations of at most 3000', async () => {
    const id = await distribution()
    const purger = await open(id)
    const paths = Array.from({ length: 3500 }, (_, n) => `/t/s1g/w:${n + 1}/eee.webp`)
    await Promise.all([purger.purge(paths.slice(0, 2000)), purger.purge(paths.slice(2000))])
    const batches = await invalidations(id)
    expect(batches.map((b) => b.length)).toEqual([3000, 500])
    expect(batches.flat().sort()).toEqual([...paths].sort())
  })

  it('sends paths with unsafe characters percent-encoded, once each', async () => {
    const id = await distribution()
    const purger = await open(id)
    await purger.purge(['/t/s1g/text:a b/fff.webp', '/t/s1g/text:a%20b/fff.webp'])
    expect(await invalidations(id)).toEqual([['/t/s1g/text:a%20b/fff.webp']])
  })

  it('close sends a window that is still open at once', async () => {
    const id = await distribution()
    const purger = await open(id, { batchMs: 60_000 })
    const purging = purger.purge(['/i/ggg/thumb.webp'])
    const started = Date.now()
    await purger.close()
    await purging
    expect(Date.now() - started).toBeLessThan(10_000)
    expect(await invalidations(id)).toEqual([['/i/ggg/*']])
  })

  it('retries a failed send and succeeds', async () => {
    const id = await distribution()
    const proxy = await flakyProxy(2)
    const purger = await open(id, { endpoint: proxy.endpoint })
    await purger.purge(['/i/hhh/thumb.webp'])
    expect(proxy.seen.invalidations).toBe(3)
    expect(await invalidations(id)).toEqual([['/i/hhh/*']])
  })

  it('reports a send that keeps failing through every purge of its window', async () => {
    const id = await distribution()
    const proxy = await flakyProxy(10)
    const purger = await open(id, { endpoint: proxy.endpoint })
    const results = await Promise.allSettled([
      purger.purge(['/i/iii/thumb.webp']),
      purger.purge(['/i/jjj/thumb.webp']),
    ])
    for (const result of results) {
      expect(result.status).toBe('rejected')
      expect(String((result as PromiseRejectedResult).reason)).toMatch(
        /invalidation of 2 path\(s\) failed after 3 attempt\(s\)/,
      )
    }
    expect(proxy.seen.invalidations).toBe(3)
    expect(await invalidations(id)).toEqual([])
    // The purger goes on: the next window is sent on its own.
    proxy.seen.invalidations = 100
    await purger.purge(['/i/kkk/thumb.webp'])
    expect(await invalidations(id)).toEqual([['/i/kkk/*']])
  })

  it('does not retry what cannot succeed (no such distribution), nor an unreachable endpoint forever', async () => {
    const missing = await open('E0NOSUCHDIST', { batchMs: 0 })
    await expect(missing.purge(['/i/lll/thumb.webp'])).rejects.toThrow(
      /failed after 1 attempt\(s\).*does not exist/,
    )
    const nowhere = await open('E0NOWHERE', {
      endpoint: `http://127.0.0.1:${await freePort()}`,
      batchMs: 0,
    })
    await expect(nowhere.purge(['/i/mmm/thumb.webp'])).rejects.toThrow(/after 3 attempt\(s\)/)
  })

  it('is what createPurger opens for a cloudfront config (credentials from the environment)', async () => {
    const id = await distribution()
    vi.stubEnv('AWS_ACCESS_KEY_ID', CREDENTIALS.accessKeyId)
    vi.stubEnv('AWS_SECRET_ACCESS_KEY', CREDENTIALS.secretAccessKey)
    try {
      const purger = await createPurger({
        driver: 'cloudfront',
        distributionId: id,
        endpoint: ENDPOINT,
        batchMs: 100,
      })
      opened.push(purger)
      expect(purger.driver).toBe('cloudfront')
      await purger.purge(['/i/nnn/thumb', '/i/nnn/thumb.webp'])
      expect(await invalidations(id)).toEqual([['/i/nnn/*']])
    } finally {
      vi.unstubAllEnvs()
    }
  })
})

async function closeServer(server: Server): Promise<void> {
  const closed = once(server, 'close')
  server.close()
  server.closeAllConnections()
  await closed
}
