import type { SQSClient } from '@aws-sdk/client-sqs'

export type SqsSdk = typeof import('@aws-sdk/client-sqs')

/** The SDK module and one client: what every part of the SQS driver talks through. */
export interface SqsLink {
  sdk: SqsSdk
  client: SQSClient
}

export interface SqsClientOptions {
  region: string
  /** An SQS-compatible endpoint (an emulator); AWS when unset. */
  endpoint?: string
  /** Both or neither; without them the SDK's default chain applies (env, profile, instance role…). */
  accessKeyId?: string
  secretAccessKey?: string
  /** The long-poll wait: every request may take this long before its answer starts. */
  waitTimeSeconds: number
  connectionTimeoutMs?: number
  /** Attempts per request, the first included (SDK default 3). */
  maxAttempts?: number
}

/** Imports the SDK here, so a deployment that never creates an SQS queue never loads it. */
export async function openSqs(options: SqsClientOptions): Promise<SqsLink> {
  const { accessKeyId, secretAccessKey } = options
  if ((accessKeyId === undefined) !== (secretAccessKey === undefined)) {
    throw new Error('[sqs] set both accessKeyId and secretAccessKey, or neither')
  }
  const sdk = await import('@aws-sdk/client-sqs')
  // AWS: the HTTP timeout must exceed WaitTimeSeconds, or every empty long poll becomes an error.
  const requestTimeout = options.waitTimeSeconds * 1000 + 10_000
  const client = new sdk.SQSClient({
    region: options.region,
    endpoint: options.endpoint,
    credentials:
      accessKeyId !== undefined && secretAccessKey !== undefined
        ? { accessKeyId, secretAccessKey }
        : undefined,
    maxAttempts: options.maxAttempts,
    // Options for @smithy/node-http-handler's NodeHttpHandler, which the SDK builds from them.
    // Without throwOnRequestTimeout a late answer only logs a warning.
    requestHandler: {
      connectionTimeout: options.connectionTimeoutMs ?? 3_000,
      requestTimeout,
      throwOnRequestTimeout: true,
      socketTimeout: requestTimeout,
    },
  })
  return { sdk, client }
}

/** Visibility timeouts and delays are whole seconds in SQS: a lease is rounded up, never down. */
export function toSeconds(ms: number): number {
  return Math.max(0, Math.ceil(ms / 1000))
}

/**
 * The broker says this receipt handle no longer holds the message: it was deleted, its
 * visibility timeout ran out, or a newer receive superseded it.
 */
export function isLeaseGone(error: unknown): boolean {
  const name = errorName(error)
  if (/MessageNotInflight|ReceiptHandleIsInvalid/.test(name)) return true
  return (
    /InvalidParameterValue/.test(name) &&
    /receipt ?handle|not available for visibility/i.test(messageOf(error))
  )
}

/** A request the broker refused for its parameters (e.g. past the 12 h visibility cap). */
export function isInvalidParameter(error: unknown): boolean {
  return /InvalidParameterValue/.test(errorName(error))
}

export function sqsError(action: string, queueUrl: string, cause: unknown): Error {
  return new Error(
    `[sqs] ${action} on ${queueUrl} failed: ${errorName(cause)}: ${messageOf(cause)}`,
    { cause },
  )
}

/**
 * CreateQueue attributes for the main queue: the default visibility timeout (the driver sets its
 * own on every receive anyway) and the RedrivePolicy that backstops crash loops. The driver moves
 * a job that failed maxAttempts times to the dead queue itself, with its error history; SQS moves
 * a message that was received `maxReceiveCount` times without being deleted or re-sent (a job that
 * kills its worker, leases that keep expiring, endless releases). Every failure re-sends the job,
 * so the count is per try, not per job: 10 leaves room for shutdown releases. Infrastructure code
 * sets the same two attributes.
 */
export function mainQueueAttributes(options: {
  deadQueueArn: string
  maxReceiveCount?: number
  leaseMs?: number
}): Record<string, string> {
  return {
    VisibilityTimeout: String(toSeconds(options.leaseMs ?? 60_000)),
    RedrivePolicy: JSON.stringify({
      deadLetterTargetArn: options.deadQueueArn,
      maxReceiveCount: options.maxReceiveCount ?? 10,
    }),
  }
}

export interface RedrivePolicy {
  deadLetterTargetArn: string
  maxReceiveCount: number
}

export async function readRedrivePolicy(
  sqs: SqsLink,
  queueUrl: string,
): Promise<RedrivePolicy | null> {
  const out = await sqs.client.send(
    new sqs.sdk.GetQueueAttributesCommand({
      QueueUrl: queueUrl,
      AttributeNames: ['RedrivePolicy'],
    }),
  )
  const raw = out.Attributes?.RedrivePolicy
  if (!raw) return null
  const policy = JSON.parse(raw) as {
    deadLetterTargetArn?: string
    maxReceiveCount?: string | number
  }
  if (!policy.deadLetterTargetArn) return null
  return {
    deadLetterTargetArn: policy.deadLetterTargetArn,
    maxReceiveCount: Number(policy.maxReceiveCount),
  }
}

/** arn:aws:sqs:<region>:<account>:<name> → its queue URL. */
export async function queueUrlOfArn(sqs: SqsLink, arn: string): Promise<string> {
  const [, , , , account, name] = arn.split(':')
  if (!account || !name) throw new Error(`[sqs] not a queue ARN: ${arn}`)
  const out = await sqs.client.send(
    new sqs.sdk.GetQueueUrlCommand({ QueueName: name, QueueOwnerAWSAccountId: account }),
  )
  if (!out.QueueUrl) throw new Error(`[sqs] no URL for ${arn}`)
  return out.QueueUrl
}

function errorName(error: unknown): string {
  if (!(error instanceof Error)) return 'Error'
  const code = (error as { Code?: unknown }).Code
  return typeof code === 'string' ? `${error.name} ${code}` : error.name
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error)
}

/** The approximate counts of one queue. */
export async function queueCounts(sqs: SqsLink, url: string) {
  const AttributeNames = [
    'ApproximateNumberOfMessages',
    'ApproximateNumberOfMessagesNotVisible',
    'ApproximateNumberOfMessagesDelayed',
  ] as const
  const out = await sqs.client.send(
    new sqs.sdk.GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: [...AttributeNames] }),
  )
  const read = (name: (typeof AttributeNames)[number]) => Number(out.Attributes?.[name] ?? 0)
  return {
    visible: read(AttributeNames[0]),
    notVisible: read(AttributeNames[1]),
    delayed: read(AttributeNames[2]),
  }
}

/** Memoises an async lookup; a failure is not kept, so the next call tries again. */
export function once<T>(load: () => Promise<T>): () => Promise<T> {
  let value: Promise<T> | null = null
  return () => {
    value ??= load().catch((error: unknown) => {
      value = null
      throw error
    })
    return value
  }
}
