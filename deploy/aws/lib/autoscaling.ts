import { Duration } from 'aws-cdk-lib'
import {
  CfnScalingPolicy,
  ScalableTarget,
  ServiceNamespace,
} from 'aws-cdk-lib/aws-applicationautoscaling'
import type * as ecs from 'aws-cdk-lib/aws-ecs'
import type * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2'
import type * as sqs from 'aws-cdk-lib/aws-sqs'
import type { Construct } from 'constructs'
import { BACKLOG_PER_WORKER_METRIC_MATH, BACKLOG_PER_WORKER_TARGET } from '../../scaling.js'

export interface ApiScalingOptions {
  minTasks?: number
  maxTasks?: number
  requestsPerTarget?: number
}

export interface WorkerScalingOptions {
  minTasks?: number
  maxTasks?: number
  backlogPerWorker?: number
}

export interface ScalingProps {
  readonly cluster: ecs.ICluster
  readonly apiService: ecs.FargateService
  readonly apiTargets: elbv2.ApplicationTargetGroup
  readonly workerService: ecs.FargateService
  readonly queue: sqs.IQueue
  readonly api?: ApiScalingOptions
  readonly workers?: WorkerScalingOptions
}

/** API: requests per target. Workers: backlog per worker (docs/deploy.md). */
export function addScaling(scope: Construct, props: ScalingProps): void {
  const apiScaling = props.apiService.autoScaleTaskCount({
    minCapacity: props.api?.minTasks ?? 2,
    maxCapacity: props.api?.maxTasks ?? 20,
  })
  apiScaling.scaleOnRequestCount('RequestsPerTarget', {
    requestsPerTarget: props.api?.requestsPerTarget ?? 500,
    targetGroup: props.apiTargets,
    scaleInCooldown: Duration.seconds(300),
    scaleOutCooldown: Duration.seconds(60),
  })
  addWorkerScaling(scope, props)
}

function addWorkerScaling(scope: Construct, props: ScalingProps): void {
  const { cluster, workerService } = props
  const workerScaling = new ScalableTarget(scope, 'WorkerScaling', {
    serviceNamespace: ServiceNamespace.ECS,
    resourceId: `service/${cluster.clusterName}/${workerService.serviceName}`,
    scalableDimension: 'ecs:service:DesiredCount',
    // At least one task: with none, RunningTaskCount is 0 and the ratio has no value.
    minCapacity: Math.max(1, props.workers?.minTasks ?? 1),
    maxCapacity: props.workers?.maxTasks ?? 50,
  })
  // Target tracking on metric math needs the L1 policy (aws-cdk#20659).
  new CfnScalingPolicy(scope, 'WorkerBacklogPerWorker', {
    policyName: 'pixelflow-backlog-per-worker',
    policyType: 'TargetTrackingScaling',
    scalingTargetId: workerScaling.scalableTargetId,
    targetTrackingScalingPolicyConfiguration: {
      targetValue: props.workers?.backlogPerWorker ?? BACKLOG_PER_WORKER_TARGET,
      scaleOutCooldown: 60,
      scaleInCooldown: 300,
      customizedMetricSpecification: { metrics: backlogPerWorkerMetrics(props) },
    },
  })
}

type MetricQuery = CfnScalingPolicy.TargetTrackingMetricDataQueryProperty

/** Jobs waiting in SQS over running worker tasks (BACKLOG_PER_WORKER_METRIC_MATH). */
function backlogPerWorkerMetrics(props: ScalingProps): MetricQuery[] {
  const { cluster, workerService, queue } = props
  return [
    {
      id: 'm1',
      label: 'jobs waiting',
      metricStat: {
        metric: {
          namespace: 'AWS/SQS',
          metricName: 'ApproximateNumberOfMessagesVisible',
          dimensions: [{ name: 'QueueName', value: queue.queueName }],
        },
        stat: 'Sum',
      },
      returnData: false,
    },
    {
      id: 'm2',
      label: 'running worker tasks',
      metricStat: {
        metric: {
          namespace: 'ECS/ContainerInsights',
          metricName: 'RunningTaskCount',
          dimensions: [
            { name: 'ClusterName', value: cluster.clusterName },
            { name: 'ServiceName', value: workerService.serviceName },
          ],
        },
        stat: 'Average',
      },
      returnData: false,
    },
    {
      id: 'e1',
      label: 'backlog per worker',
      expression: BACKLOG_PER_WORKER_METRIC_MATH,
      returnData: true,
    },
  ]
}
