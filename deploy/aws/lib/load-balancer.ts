import { Duration, Stack, Token } from 'aws-cdk-lib'
import * as ec2 from 'aws-cdk-lib/aws-ec2'
import type * as ecs from 'aws-cdk-lib/aws-ecs'
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import type { Construct } from 'constructs'
import { ack, ROTATION_REASON } from './nag.js'
import type { Network } from './network.js'
import { PORT } from './tasks.js'

export interface LoadBalancerProps {
  readonly network: Network
  readonly logsBucket: s3.IBucket
  readonly apiService: ecs.FargateService
}

export interface LoadBalancer {
  readonly alb: elbv2.ApplicationLoadBalancer
  readonly apiTargets: elbv2.ApplicationTargetGroup
  /** The header value CloudFront sends and the listener requires. */
  readonly originSecret: secretsmanager.Secret
}

/**
 * The load balancer in front of the API tasks, reachable only through CloudFront (a secret
 * header, else 403), created in `scope` (the stack).
 */
export function addLoadBalancer(scope: Construct, props: LoadBalancerProps): LoadBalancer {
  const securityGroup = addAlbSecurityGroup(scope, props.network)
  const alb = new elbv2.ApplicationLoadBalancer(scope, 'Alb', {
    vpc: props.network.vpc,
    internetFacing: true,
    securityGroup,
    dropInvalidHeaderFields: true,
    idleTimeout: Duration.seconds(120),
  })
  // Access logs need the region's ELB log-delivery account: only for a stack with env.region.
  if (Token.isUnresolved(Stack.of(scope).region))
    ack(
      alb,
      'AwsSolutions-ELB2',
      'Environment-agnostic synth has no region for ELB log delivery; a stack with env.region logs to the logs bucket.',
    )
  else alb.logAccessLogs(props.logsBucket, 'alb')
  const originSecret = new secretsmanager.Secret(scope, 'OriginVerify', {
    description: 'Header value CloudFront sends to the ALB',
    generateSecretString: { excludePunctuation: true, passwordLength: 40 },
  })
  ack(originSecret, 'AwsSolutions-SMG4', ROTATION_REASON)
  const apiTargets = addListener(scope, { ...props, alb, originSecret })
  return { alb, apiTargets, originSecret }
}

/** Open to the internet on port 80 (CloudFront's addresses); the tasks accept it on PORT. */
function addAlbSecurityGroup(scope: Construct, network: Network): ec2.SecurityGroup {
  const albSg = new ec2.SecurityGroup(scope, 'AlbSecurityGroup', {
    vpc: network.vpc,
    description: 'Pixelflow ALB',
  })
  albSg.addIngressRule(
    ec2.Peer.anyIpv4(),
    ec2.Port.tcp(80),
    'CloudFront origin requests (checked by header)',
  )
  ack(
    albSg,
    'AwsSolutions-EC23',
    'CloudFront reaches the ALB from its own addresses; requests without the origin secret header get a 403.',
  )
  network.appSg.addIngressRule(albSg, ec2.Port.tcp(PORT), 'ALB to API tasks')
  return albSg
}

/** HTTP listener: 403 by default, the API targets only with the origin secret header. */
function addListener(
  scope: Construct,
  props: LoadBalancerProps & Omit<LoadBalancer, 'apiTargets'>,
): elbv2.ApplicationTargetGroup {
  const listener = props.alb.addListener('Http', {
    port: 80,
    protocol: elbv2.ApplicationProtocol.HTTP,
    defaultAction: elbv2.ListenerAction.fixedResponse(403, {
      contentType: 'text/plain',
      messageBody: 'Forbidden',
    }),
  })
  const apiTargets = new elbv2.ApplicationTargetGroup(scope, 'ApiTargets', {
    vpc: props.network.vpc,
    port: PORT,
    protocol: elbv2.ApplicationProtocol.HTTP,
    targets: [props.apiService],
    deregistrationDelay: Duration.seconds(30),
    healthCheck: { path: '/readyz', healthyHttpCodes: '200', interval: Duration.seconds(10) },
  })
  listener.addAction('FromCloudFront', {
    priority: 10,
    conditions: [
      elbv2.ListenerCondition.httpHeader('X-Origin-Verify', [
        props.originSecret.secretValue.unsafeUnwrap(),
      ]),
    ],
    action: elbv2.ListenerAction.forward([apiTargets]),
  })
  return apiTargets
}
