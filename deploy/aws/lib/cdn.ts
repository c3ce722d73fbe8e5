import { Duration } from 'aws-cdk-lib'
import * as cloudfront from 'aws-cdk-lib/aws-cloudfront'
import { LoadBalancerV2Origin } from 'aws-cdk-lib/aws-cloudfront-origins'
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2'
import type * as s3 from 'aws-cdk-lib/aws-s3'
import type * as secretsmanager from 'aws-cdk-lib/aws-secretsmanager'
import type { Construct } from 'constructs'
import { ack } from './nag.js'
import type { Tasks } from './tasks.js'

export interface CdnProps {
  readonly alb: elbv2.IApplicationLoadBalancer
  /** Sent as X-Origin-Verify: the ALB forwards nothing without it. */
  readonly originSecret: secretsmanager.ISecret
  readonly logsBucket: s3.IBucket
}

/**
 * CloudFront, created in `scope` (the stack): /i/* (variants) and /t/* (on-the-fly transforms)
 * cached by our Cache-Control, keyed on Accept reduced to one token; everything else passed
 * through.
 */
export function addCdn(scope: Construct, props: CdnProps): cloudfront.Distribution {
  const origin = new LoadBalancerV2Origin(props.alb, {
    protocolPolicy: cloudfront.OriginProtocolPolicy.HTTP_ONLY,
    customHeaders: { 'X-Origin-Verify': props.originSecret.secretValue.unsafeUnwrap() },
    readTimeout: Duration.seconds(60),
  })
  const variants = addVariantCachePolicy(scope)
  const acceptToken = addAcceptTokenFunction(scope)
  const cached: cloudfront.BehaviorOptions = {
    origin,
    allowedMethods: cloudfront.AllowedMethods.ALLOW_GET_HEAD,
    cachedMethods: cloudfront.CachedMethods.CACHE_GET_HEAD,
    cachePolicy: variants,
    viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
    compress: false,
    functionAssociations: [
      { function: acceptToken, eventType: cloudfront.FunctionEventType.VIEWER_REQUEST },
    ],
  }
  const distribution = new cloudfront.Distribution(scope, 'Cdn', {
    comment: 'Pixelflow',
    defaultBehavior: {
      origin,
      allowedMethods: cloudfront.AllowedMethods.ALLOW_ALL,
      cachePolicy: cloudfront.CachePolicy.CACHING_DISABLED,
      originRequestPolicy: cloudfront.OriginRequestPolicy.ALL_VIEWER_EXCEPT_HOST_HEADER,
      viewerProtocolPolicy: cloudfront.ViewerProtocolPolicy.REDIRECT_TO_HTTPS,
    },
    additionalBehaviors: { '/i/*': cached, '/t/*': cached },
    enableLogging: true,
    logBucket: props.logsBucket,
    logFilePrefix: 'cloudfront/',
    priceClass: cloudfront.PriceClass.PRICE_CLASS_100,
  })
  acknowledgeDistribution(distribution)
  return distribution
}

function addVariantCachePolicy(scope: Construct): cloudfront.CachePolicy {
  return new cloudfront.CachePolicy(scope, 'VariantCache', {
    comment:
      'Pixelflow variants: the origin says public, max-age=31536000, immutable (private: not cached)',
    // Honour the origin: min 0 so `private` responses are not cached; max one year.
    minTtl: Duration.seconds(0),
    defaultTtl: Duration.days(1),
    maxTtl: Duration.days(365),
    // The path names the image, variant and format; signed URLs of private images add these.
    queryStringBehavior: cloudfront.CacheQueryStringBehavior.allowList('exp', 'kid', 'sig'),
    // Already reduced to one token by the viewer-request function: three entries at most per URL.
    headerBehavior: cloudfront.CacheHeaderBehavior.allowList('Accept'),
    cookieBehavior: cloudfront.CacheCookieBehavior.none(),
    enableAcceptEncodingGzip: false,
    enableAcceptEncodingBrotli: false,
  })
}

/**
 * The origin answers a URL without a format (`/i/<id>/<preset>`, a transform without `f:`) with
 * AVIF, WebP or JPEG by Accept and `Vary: Accept`. Keyed on the raw header, every browser's own
 * Accept string would be an entry of its own; this function reduces it first, with the rule the
 * origin uses (src/domain/formats.ts negotiateFormat). A URL with an extension never varies, so its
 * Accept is dropped to one value: one entry.
 */
export const ACCEPT_TOKEN_FUNCTION = `function handler(event) {
  var request = event.request;
  var last = request.uri.slice(request.uri.lastIndexOf('/') + 1);
  var accept = request.headers.accept ? request.headers.accept.value : '';
  var token = 'image/jpeg';
  if (last.indexOf('.') >= 0) token = '*/*';
  else if (accept.indexOf('image/avif') >= 0) token = 'image/avif';
  else if (accept.indexOf('image/webp') >= 0) token = 'image/webp';
  request.headers.accept = { value: token };
  return request;
}`

function addAcceptTokenFunction(scope: Construct): cloudfront.Function {
  return new cloudfront.Function(scope, 'AcceptToken', {
    comment: 'Pixelflow: reduce Accept to avif, webp or jpeg for the cache key',
    code: cloudfront.FunctionCode.fromInline(ACCEPT_TOKEN_FUNCTION),
    runtime: cloudfront.FunctionRuntime.JS_2_0,
  })
}

function acknowledgeDistribution(distribution: cloudfront.Distribution): void {
  ack(
    distribution,
    'AwsSolutions-CFR1',
    'Images are served worldwide; add geo restrictions per deployment if needed.',
  )
  ack(
    distribution,
    'AwsSolutions-CFR2',
    'WAF is a per-deployment choice (cost, rules); attach a web ACL with webAclId.',
  )
  ack(
    distribution,
    'AwsSolutions-CFR4',
    'The default *.cloudfront.net certificate: set a domain and ACM certificate to enforce TLSv1.2_2021.',
  )
  ack(
    distribution,
    'AwsSolutions-CFR5',
    'The ALB has no certificate without a domain; the origin is reachable only with the secret header.',
  )
}

/**
 * Links in responses point at CloudFront, and a delete purges the image's URLs from it: the API
 * tasks may create invalidations on this distribution and nothing else.
 */
export function pointLinksAtCdn(tasks: Tasks, distribution: cloudfront.Distribution): void {
  for (const definition of [tasks.api, tasks.worker, tasks.relay])
    definition.defaultContainer!.addEnvironment(
      'PIXELFLOW_PUBLIC_URL',
      `https://${distribution.distributionDomainName}`,
    )
  const api = tasks.api.defaultContainer!
  api.addEnvironment('PIXELFLOW_CDN_PURGE', 'cloudfront')
  api.addEnvironment('PIXELFLOW_CLOUDFRONT_DISTRIBUTION_ID', distribution.distributionId)
  distribution.grantCreateInvalidation(tasks.api.taskRole)
}
