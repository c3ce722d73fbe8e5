import { spawn } from 'node:child_process'
import { once } from 'node:events'
import { existsSync, readFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { fileURLToPath, pathToFileURL } from 'node:url'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  BACKLOG_PER_WORKER_METRIC_MATH,
  BACKLOG_PER_WORKER_TARGET,
  QUEUE_MAX_ATTEMPTS,
  SHUTDOWN_GRACE_MS,
  SHUTDOWN_HARD_EXIT_MS,
  WORKER_SLOTS_PER_REPLICA,
} from '../../deploy/scaling.js'
import { negotiateFormat } from '../../src/domain/formats.js'

/**
 * deploy/aws (AWS CDK v2, its own package.json): the stack synthesises offline with the AWS
 * Solutions checks (cdk-nag) as a validation plugin, so every finding is fixed or acknowledged in
 * code with a reason; the template is then checked with aws-cdk-lib/assertions. Needs
 * `npm ci --prefix deploy/aws` (bash .ci/run does it); skipped, saying so, without it.
 */

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const AWS_DIR = join(ROOT, 'deploy/aws')
const installed = existsSync(join(AWS_DIR, 'node_modules/aws-cdk-lib/package.json'))
if (!installed)
  console.info(
    'aws.test.ts skipped: deploy/aws has its own dependencies; run `npm ci --prefix deploy/aws` (bash .ci/run does)',
  )

/** aws-cdk-lib lives in deploy/aws/node_modules: load it (and the stack) from there. */
const fromAws = createRequire(join(AWS_DIR, 'package.json'))
const load = (specifier: string) => import(pathToFileURL(fromAws.resolve(specifier)).href)

type Template = any
let template: Template
let wider: Template
let typecheck: Promise<{ code: number | null; output: string }>

describe.skipIf(!installed)('deploy/aws', () => {
  beforeAll(async () => {
    // The package's own typecheck runs beside the synth.
    const tsc = spawn(
      process.execPath,
      [join(AWS_DIR, 'node_modules/typescript/bin/tsc'), '-p', join(AWS_DIR, 'tsconfig.json')],
      { cwd: AWS_DIR, stdio: ['ignore', 'pipe', 'pipe'] },
    )
    let output = ''
    tsc.stdout!.on('data', (d) => (output += d))
    tsc.stderr!.on('data', (d) => (output += d))
    typecheck = once(tsc, 'exit').then(([code]) => ({ code: code as number | null, output }))

    const cdk = await load('aws-cdk-lib')
    const { Template } = await load('aws-cdk-lib/assertions')
    const { addPixelflow } = await import('../../deploy/aws/lib/app.js')
    // The default stack, as `npx cdk synth` makes it; the synth throws on any unacknowledged
    // cdk-nag finding (and runs aws-cdk-lib's own CloudFormation validation).
    const app = new cdk.App()
    const stack = addPixelflow(app)
    app.synth()
    template = Template.fromStack(stack)
    // Parameters: 4 shards, 7 deliveries (no built-in validation: it ran on the first).
    const other = new cdk.App({ builtinCloudFormationValidation: false })
    wider = Template.fromStack(addPixelflow(other, { shards: 4, queueMaxAttempts: 7 }))
  }, 120_000)

  const resources = (t: Template, type: string) => Object.values(t.findResources(type)) as any[]
  const containers = (t: Template) =>
    resources(t, 'AWS::ECS::TaskDefinition').flatMap((d) => d.Properties.ContainerDefinitions)
  const containerOf = (t: Template, role: string) =>
    containers(t).find((c: any) => c.Command?.[2] === role)
  const envOf = (c: any): Record<string, unknown> =>
    Object.fromEntries(c.Environment.map((e: any) => [e.Name, e.Value]))

  it('fails the synth on a cdk-nag finding nobody acknowledged', async () => {
    const cdk = await load('aws-cdk-lib')
    const s3 = await load('aws-cdk-lib/aws-s3')
    const { AwsSolutionsChecks } = await load('cdk-nag')
    const app = new cdk.App({ builtinCloudFormationValidation: false })
    new s3.Bucket(new cdk.Stack(app, 'Bare'), 'Bucket')
    cdk.Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
    expect(() => app.synth()).toThrow()
  })

  it('typechecks with its own tsconfig', async () => {
    const { code, output } = await typecheck
    expect(output).toBe('')
    expect(code).toBe(0)
  }, 120_000)

  it('keeps the bucket private, encrypted, TLS-only, and drops multipart leftovers', () => {
    const buckets = resources(template, 'AWS::S3::Bucket')
    for (const bucket of buckets) {
      expect(bucket.Properties.PublicAccessBlockConfiguration).toEqual({
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      })
      expect(bucket.Properties.BucketEncryption).toBeDefined()
    }
    const objects = buckets.filter((b) =>
      b.Properties.LifecycleConfiguration?.Rules.some((r: any) => r.AbortIncompleteMultipartUpload),
    )
    expect(objects).toHaveLength(1)
    expect(
      objects[0].Properties.LifecycleConfiguration.Rules[0].AbortIncompleteMultipartUpload,
    ).toEqual({
      DaysAfterInitiation: 1,
    })
    const policies = resources(template, 'AWS::S3::BucketPolicy')
    expect(policies.length).toBe(buckets.length)
    for (const policy of policies)
      expect(JSON.stringify(policy.Properties.PolicyDocument)).toContain(
        '"aws:SecureTransport":"false"',
      )
  })

  it("dead-letters after the driver's delivery limit, a stack prop defaulting to PIXELFLOW_QUEUE_MAX_ATTEMPTS", () => {
    for (const [t, attempts] of [
      [template, QUEUE_MAX_ATTEMPTS],
      [wider, 7],
    ] as const) {
      const redrive = resources(t, 'AWS::SQS::Queue').filter((q) => q.Properties.RedrivePolicy)
      expect(redrive).toHaveLength(1)
      expect(redrive[0].Properties.RedrivePolicy.maxReceiveCount).toBe(attempts)
      for (const c of containers(t))
        expect(envOf(c).PIXELFLOW_QUEUE_MAX_ATTEMPTS).toBe(String(attempts))
    }
  })

  it('makes one encrypted, private, Multi-AZ PostgreSQL instance per shard plus the control database', () => {
    for (const [t, shards] of [
      [template, 2],
      [wider, 4],
    ] as const) {
      const dbs = resources(t, 'AWS::RDS::DBInstance')
      expect(dbs.map((d) => d.Properties.DBName).sort()).toEqual(
        [
          'pixelflow_control',
          ...Array.from({ length: shards }, (_, i) => `pixelflow_shard_${i}`),
        ].sort(),
      )
      for (const db of dbs) {
        expect(db.Properties).toMatchObject({
          StorageEncrypted: true,
          MultiAZ: true,
          DeletionProtection: true,
        })
        expect(db.Properties.PubliclyAccessible ?? false).toBe(false)
      }
    }
    const [redis] = resources(template, 'AWS::ElastiCache::ReplicationGroup')
    expect(redis.Properties).toMatchObject({
      TransitEncryptionEnabled: true,
      AtRestEncryptionEnabled: true,
    })
  })

  it('runs api, worker and relay as separate Fargate services; autoscaled counts are left to scaling', () => {
    const services = resources(template, 'AWS::ECS::Service')
    expect(services).toHaveLength(3)
    expect(services.filter((s) => s.Properties.DesiredCount === undefined)).toHaveLength(2)
    expect(services.map((s) => s.Properties.LaunchType)).toEqual(['FARGATE', 'FARGATE', 'FARGATE'])
    for (const role of ['api', 'worker', 'relay']) {
      const c = containerOf(template, role)
      expect(c, role).toBeDefined()
      expect(c.ReadonlyRootFilesystem).toBe(true)
      expect(c.StopTimeout * 1000).toBeGreaterThan(SHUTDOWN_GRACE_MS + SHUTDOWN_HARD_EXIT_MS)
      expect(c.StopTimeout).toBeLessThanOrEqual(120)
      expect(envOf(c).PIXELFLOW_SHUTDOWN_GRACE_MS).toBe(String(SHUTDOWN_GRACE_MS))
      // Connection strings come from Secrets Manager, never the plain environment.
      expect(c.Secrets.map((s: any) => s.Name).sort()).toEqual([
        'PIXELFLOW_CONTROL_DB',
        'PIXELFLOW_REDIS_URL',
        'PIXELFLOW_SHARDS',
        'PIXELFLOW_URL_SIGNING_KEYS',
      ])
      expect(JSON.stringify(c.Environment)).not.toMatch(/postgres:|rediss?:/)
    }
    expect(envOf(containerOf(template, 'api')).PIXELFLOW_RELAY_ENABLED).toBe('false')
    expect(envOf(containerOf(template, 'worker')).PIXELFLOW_WORKER_CONCURRENCY).toBe(
      String(WORKER_SLOTS_PER_REPLICA),
    )
    template.hasResourceProperties('AWS::ECS::Cluster', {
      ClusterSettings: [{ Name: 'containerInsights', Value: 'enabled' }],
    })
  })

  it('scales workers on backlog per worker (metric math) and the API on requests per target', () => {
    const policies = resources(template, 'AWS::ApplicationAutoScaling::ScalingPolicy')
    const tracking = policies.map((p) => p.Properties.TargetTrackingScalingPolicyConfiguration)
    const api = tracking.filter((c) => c.PredefinedMetricSpecification)
    expect(api).toHaveLength(1)
    expect(api[0].PredefinedMetricSpecification.PredefinedMetricType).toBe(
      'ALBRequestCountPerTarget',
    )
    const workers = tracking.filter((c) => c.CustomizedMetricSpecification)
    expect(workers).toHaveLength(1)
    expect(workers[0].TargetValue).toBe(BACKLOG_PER_WORKER_TARGET)
    const metrics = workers[0].CustomizedMetricSpecification.Metrics
    // Exactly one query returns data, and it is the definition's expression.
    expect(metrics.filter((m: any) => m.ReturnData)).toEqual([
      expect.objectContaining({ Id: 'e1', Expression: BACKLOG_PER_WORKER_METRIC_MATH }),
    ])
    const stat = (id: string) => metrics.find((m: any) => m.Id === id).MetricStat.Metric
    expect(stat('m1')).toMatchObject({
      Namespace: 'AWS/SQS',
      MetricName: 'ApproximateNumberOfMessagesVisible',
    })
    expect(stat('m2')).toMatchObject({
      Namespace: 'ECS/ContainerInsights',
      MetricName: 'RunningTaskCount',
    })
    expect(BACKLOG_PER_WORKER_METRIC_MATH).toContain(String(WORKER_SLOTS_PER_REPLICA))
    const targets = resources(template, 'AWS::ApplicationAutoScaling::ScalableTarget')
    expect(targets.map((t) => t.Properties.MinCapacity).sort()).toEqual([1, 2])
    // The definition is the one written in docs/deploy.md.
    expect(readFileSync(join(ROOT, 'docs/deploy.md'), 'utf8')).toContain(
      BACKLOG_PER_WORKER_METRIC_MATH,
    )
  })

  it('caches /i/* and /t/* at CloudFront by our Cache-Control and keys, and passes everything else', () => {
    const [distribution] = resources(template, 'AWS::CloudFront::Distribution')
    const config = distribution.Properties.DistributionConfig
    expect(config.CacheBehaviors.map((b: any) => b.PathPattern)).toEqual(['/i/*', '/t/*'])
    for (const behavior of config.CacheBehaviors) {
      expect(behavior.AllowedMethods).toEqual(['GET', 'HEAD'])
      expect(behavior.FunctionAssociations).toHaveLength(1)
      expect(behavior.FunctionAssociations[0].EventType).toBe('viewer-request')
    }
    const [policy] = resources(template, 'AWS::CloudFront::CachePolicy')
    const cache = policy.Properties.CachePolicyConfig
    // min 0 so `private` answers stay uncached; max = our max-age of a year.
    expect(cache).toMatchObject({ MinTTL: 0, MaxTTL: 31_536_000 })
    const keys = cache.ParametersInCacheKeyAndForwardedToOrigin
    expect(keys.QueryStringsConfig).toEqual({
      QueryStringBehavior: 'whitelist',
      QueryStrings: ['exp', 'kid', 'sig'],
    })
    // Accept, as the viewer-request function reduced it: one token.
    expect(keys.HeadersConfig).toEqual({ HeaderBehavior: 'whitelist', Headers: ['Accept'] })
    expect(keys.CookiesConfig).toEqual({ CookieBehavior: 'none' })
    // The default behaviour (uploads, the API) is not cached: CachingDisabled, all methods.
    expect(config.DefaultCacheBehavior.CachePolicyId).toBe('4135ea2d-6df8-44a3-9df3-4b5a84be39ad')
    expect(config.DefaultCacheBehavior.AllowedMethods).toContain('POST')
  })

  it("reduces Accept with the origin's own rule: the CloudFront function agrees with negotiateFormat", async () => {
    const [fn] = resources(template, 'AWS::CloudFront::Function')
    const { ACCEPT_TOKEN_FUNCTION } = await import('../../deploy/aws/lib/cdn.js')
    expect(fn.Properties.FunctionCode).toBe(ACCEPT_TOKEN_FUNCTION)
    // The function's own code, run as CloudFront runs it (a handler over the event).
    const handler = new Function(`${ACCEPT_TOKEN_FUNCTION}; return handler`)()
    const tokenOf = (uri: string, accept?: string) =>
      handler({
        request: { uri, headers: accept === undefined ? {} : { accept: { value: accept } } },
      }).headers.accept.value
    for (const accept of [
      'image/avif,image/webp,image/apng,*/*;q=0.8',
      'image/webp,*/*',
      'text/html,*/*;q=0.8',
      '*/*',
      '',
      undefined,
    ]) {
      const token = tokenOf('/i/abc/thumb', accept)
      expect([accept, token]).toEqual([accept, `image/${negotiateFormat(accept)}`])
      expect(negotiateFormat(token)).toBe(negotiateFormat(accept))
      // An explicit format never varies: one cache entry whatever the browser sends.
      expect(tokenOf('/i/abc/thumb.webp', accept)).toBe('*/*')
      expect(tokenOf('/t/sig/w:100/abc.avif', accept)).toBe('*/*')
    }
  })

  it('purges a deleted image from CloudFront: the API tasks may invalidate this distribution only', () => {
    const env = envOf(containerOf(template, 'api'))
    expect(env.PIXELFLOW_CDN_PURGE).toBe('cloudfront')
    expect(JSON.stringify(env.PIXELFLOW_CLOUDFRONT_DISTRIBUTION_ID)).toContain('Cdn')
    const statements = resources(template, 'AWS::IAM::Policy').flatMap((p) =>
      p.Properties.PolicyDocument.Statement.map((st: any) => ({
        ...st,
        roles: p.Properties.Roles,
      })),
    )
    const invalidation = statements.filter((st) =>
      [st.Action].flat().includes('cloudfront:CreateInvalidation'),
    )
    expect(invalidation).toHaveLength(1)
    expect(JSON.stringify(invalidation[0].Resource)).toContain('distribution/')
    expect(JSON.stringify(invalidation[0].roles)).toMatch(/Api/i)
  })

  it('alarms on dead letters, the oldest job and the 5xx rate', () => {
    const alarms = resources(template, 'AWS::CloudWatch::Alarm')
    const text = alarms.map((a) => JSON.stringify(a.Properties))
    expect(
      text.some(
        (t) => t.includes('ApproximateNumberOfMessagesVisible') && t.includes('DeadLetter'),
      ),
    ).toBe(true)
    expect(text.some((t) => t.includes('ApproximateAgeOfOldestMessage'))).toBe(true)
    expect(text.some((t) => t.includes('HTTPCode_Target_5XX_Count'))).toBe(true)
    for (const alarm of alarms) expect(alarm.Properties.AlarmActions).toHaveLength(1)
  })

  it('grants no wildcard action and no service-wide resource', () => {
    for (const policy of resources(template, 'AWS::IAM::Policy'))
      for (const statement of policy.Properties.PolicyDocument.Statement) {
        const actions = [statement.Action].flat()
        for (const action of actions) expect(action).not.toMatch(/^\*$|^[a-z0-9]+:\*$/)
        if (statement.Resource === '*')
          // Only actions AWS does not scope to a resource.
          expect(
            actions.every((a: string) => /^(ecr:GetAuthorizationToken|xray:|logs:)/.test(a)),
            JSON.stringify(statement),
          ).toBe(true)
      }
  })
})
