import { Duration, RemovalPolicy, SecretValue } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as elasticache from 'aws-cdk-lib/aws-elasticache'
import * as rds from 'aws-cdk-lib/aws-rds'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import type { Construct } from 'constructs'
import { ack, ROTATION_REASON } from './nag.js'
import type { Network } from './network.js'

const PG_USER = 'pixelflow'

export interface DataProps {
  readonly network: Network
  /** Metadata shards: one RDS PostgreSQL instance each (plus one for the control database). */
  readonly shards: number
  readonly dbInstanceType?: string
  readonly cacheNodeType?: string
}

export interface Data {
  /** Every connection string the tasks read (ECS injects them as variables). */
  readonly connections: secretsmanager.Secret
}

/**
 * PostgreSQL (a control database and one instance per shard), Redis, and the secrets the tasks
 * read, created in `scope` (the stack) in the order the single-constructor stack made them.
 */
export function addData(scope: Construct, props: DataProps): Data {
  const controlUrl = addDatabase(scope, props, 'ControlDatabase', 'pixelflow_control')
  const shardUrls = Array.from({ length: props.shards }, (_, i) =>
    addDatabase(scope, props, `Shard${i}`, `pixelflow_shard_${i}`),
  )
  const redisUrl = addRedis(scope, props)
  const connections = addConnections(scope, {
    PIXELFLOW_CONTROL_DB: controlUrl,
    PIXELFLOW_SHARDS: shardUrls.join(','),
    PIXELFLOW_REDIS_URL: redisUrl,
  })
  return { connections }
}

/** One PostgreSQL instance with its master secret; returns its postgres:// URL. */
function addDatabase(scope: Construct, props: DataProps, name: string, dbName: string): string {
  const { vpc, dataSubnets, dataSg } = props.network
  const dbSecret = addDatabaseSecret(scope, name, dbName)
  const instance = new rds.DatabaseInstance(scope, name, {
    engine: rds.DatabaseInstanceEngine.postgres({ version: rds.PostgresEngineVersion.VER_16 }),
    instanceType: new ec2.InstanceType(props.dbInstanceType ?? 'm7g.large'),
    vpc,
    vpcSubnets: dataSubnets,
    securityGroups: [dataSg],
    credentials: rds.Credentials.fromSecret(dbSecret),
    databaseName: dbName,
    multiAz: true,
    storageEncrypted: true,
    allocatedStorage: 100,
    maxAllocatedStorage: 1000,
    deletionProtection: true,
    backupRetention: Duration.days(7),
    enablePerformanceInsights: true,
    cloudwatchLogsExports: ['postgresql'],
    iamAuthentication: false,
    removalPolicy: RemovalPolicy.SNAPSHOT,
  })
  ack(
    instance,
    'AwsSolutions-RDS11',
    'The default port 5432 is reachable only from the task security group.',
  )
  return `postgres://${PG_USER}:${dbSecret.secretValueFromJson('password').unsafeUnwrap()}@${instance.dbInstanceEndpointAddress}:5432/${dbName}?sslmode=no-verify`
}

function addDatabaseSecret(scope: Construct, name: string, dbName: string) {
  // One generated master secret per instance (a secret attaches to one instance only).
  const dbSecret = new secretsmanager.Secret(scope, `${name}Credentials`, {
    description: `Pixelflow PostgreSQL master user of ${dbName}`,
    generateSecretString: {
      secretStringTemplate: JSON.stringify({ username: PG_USER }),
      generateStringKey: 'password',
      // The password goes into postgres:// URLs: no character that would need escaping.
      excludePunctuation: true,
      passwordLength: 32,
    },
  })
  ack(dbSecret, 'AwsSolutions-SMG4', ROTATION_REASON)
  return dbSecret
}

/** Redis for rate limits and the metadata cache, TLS and AUTH; returns its rediss:// URL. */
function addRedis(scope: Construct, props: DataProps): string {
  const { vpc, dataSubnets, dataSg } = props.network
  const redisAuth = new secretsmanager.Secret(scope, 'RedisAuth', {
    description: 'Pixelflow Redis AUTH token',
    generateSecretString: { excludePunctuation: true, passwordLength: 48 },
  })
  ack(redisAuth, 'AwsSolutions-SMG4', ROTATION_REASON)
  const redisSubnets = new elasticache.CfnSubnetGroup(scope, 'RedisSubnets', {
    description: 'Pixelflow Redis',
    subnetIds: vpc.selectSubnets(dataSubnets).subnetIds,
  })
  const redis = new elasticache.CfnReplicationGroup(scope, 'Redis', {
    replicationGroupDescription: 'Pixelflow rate limits and metadata cache',
    engine: 'redis',
    engineVersion: '7.1',
    cacheNodeType: props.cacheNodeType ?? 'cache.t4g.medium',
    numCacheClusters: 2,
    automaticFailoverEnabled: true,
    multiAzEnabled: true,
    atRestEncryptionEnabled: true,
    transitEncryptionEnabled: true,
    authToken: redisAuth.secretValue.unsafeUnwrap(),
    cacheSubnetGroupName: redisSubnets.ref,
    securityGroupIds: [dataSg.securityGroupId],
    port: 6379,
  })
  ack(
    redis,
    'AwsSolutions-AEC5',
    'The default port 6379 is reachable only from the task security group.',
  )
  return `rediss://:${redisAuth.secretValue.unsafeUnwrap()}@${redis.attrPrimaryEndPointAddress}:6379`
}

/** The URL signing key, and one secret with every connection string the tasks read. */
function addConnections(
  scope: Construct,
  urls: { PIXELFLOW_CONTROL_DB: string; PIXELFLOW_SHARDS: string; PIXELFLOW_REDIS_URL: string },
): secretsmanager.Secret {
  const signingKeys = new secretsmanager.Secret(scope, 'UrlSigningKey', {
    description: 'Pixelflow URL signing key (kid:secret)',
    generateSecretString: { excludePunctuation: true, passwordLength: 48 },
  })
  ack(
    signingKeys,
    'AwsSolutions-SMG4',
    'Rotated by hand: the new key is listed first next to the old one (README, private images).',
  )
  const connections = new secretsmanager.Secret(scope, 'Connections', {
    description: 'Pixelflow connection strings, composed from the generated credentials',
    secretObjectValue: {
      PIXELFLOW_CONTROL_DB: SecretValue.unsafePlainText(urls.PIXELFLOW_CONTROL_DB),
      PIXELFLOW_SHARDS: SecretValue.unsafePlainText(urls.PIXELFLOW_SHARDS),
      PIXELFLOW_REDIS_URL: SecretValue.unsafePlainText(urls.PIXELFLOW_REDIS_URL),
      PIXELFLOW_URL_SIGNING_KEYS: SecretValue.unsafePlainText(
        `k1:${signingKeys.secretValue.unsafeUnwrap()}`,
      ),
    },
  })
  ack(
    connections,
    'AwsSolutions-SMG4',
    'Derived from the other secrets: it is recomposed on deploy when they change.',
  )
  return connections
}
