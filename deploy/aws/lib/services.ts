import * as ec2 from 'aws-cdk-lib/aws-ec2'
import * as ecs from 'aws-cdk-lib/aws-ecs'
import type { Construct } from 'constructs'
import type { Network } from './network.js'
import { addTasks, cap, type Tasks, type TasksProps } from './tasks.js'

export interface ServicesProps extends TasksProps {
  readonly network: Network
}

export interface Services {
  readonly cluster: ecs.Cluster
  readonly tasks: Tasks
  readonly apiService: ecs.FargateService
  readonly workerService: ecs.FargateService
  readonly relayService: ecs.FargateService
}

/**
 * One ECS cluster with Container Insights (RunningTaskCount feeds the worker scaling) and a
 * Fargate service per role, created in `scope` (the stack).
 */
export function addServices(scope: Construct, props: ServicesProps): Services {
  const cluster = new ecs.Cluster(scope, 'Cluster', {
    vpc: props.network.vpc,
    containerInsightsV2: ecs.ContainerInsights.ENABLED,
  })
  const tasks = addTasks(scope, props)
  const service = (
    role: string,
    taskDefinition: ecs.FargateTaskDefinition,
    desiredCount?: number,
  ) =>
    addService(scope, { cluster, appSg: props.network.appSg, role, taskDefinition, desiredCount })
  const apiService = service('api', tasks.api)
  const workerService = service('worker', tasks.worker)
  const relayService = service('relay', tasks.relay, 1)
  return { cluster, tasks, apiService, workerService, relayService }
}

interface ServiceProps {
  readonly cluster: ecs.ICluster
  readonly appSg: ec2.ISecurityGroup
  readonly role: string
  readonly taskDefinition: ecs.FargateTaskDefinition
  /** Left out for autoscaled services. */
  readonly desiredCount?: number
}

function addService(scope: Construct, props: ServiceProps): ecs.FargateService {
  const { cluster, taskDefinition, desiredCount } = props
  return new ecs.FargateService(scope, `${cap(props.role)}Service`, {
    cluster,
    taskDefinition,
    // Autoscaled services leave the count out: a deploy must not reset what scaling chose.
    ...(desiredCount === undefined ? {} : { desiredCount }),
    minHealthyPercent: 100,
    maxHealthyPercent: 200,
    circuitBreaker: { rollback: true },
    securityGroups: [props.appSg],
    vpcSubnets: { subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS },
    assignPublicIp: false,
  })
}
