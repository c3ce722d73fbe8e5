import * as ec2 from 'aws-cdk-lib/aws-ec2'
import type { Construct } from 'constructs'

export interface Network {
  readonly vpc: ec2.Vpc
  /** The isolated subnets PostgreSQL and Redis live in. */
  readonly dataSubnets: ec2.SubnetSelection
  /** Every Pixelflow task. */
  readonly appSg: ec2.SecurityGroup
  /** PostgreSQL and Redis. */
  readonly dataSg: ec2.SecurityGroup
}

/**
 * Public subnets for the ALB, private ones for tasks, isolated ones for data. Created in `scope`
 * (the stack) so the logical ids stay those of the single-constructor stack.
 */
export function addNetwork(scope: Construct): Network {
  const vpc = new ec2.Vpc(scope, 'Vpc', {
    maxAzs: 2,
    natGateways: 1,
    subnetConfiguration: [
      { name: 'public', subnetType: ec2.SubnetType.PUBLIC, cidrMask: 24 },
      { name: 'app', subnetType: ec2.SubnetType.PRIVATE_WITH_EGRESS, cidrMask: 22 },
      { name: 'data', subnetType: ec2.SubnetType.PRIVATE_ISOLATED, cidrMask: 24 },
    ],
    flowLogs: { all: { trafficType: ec2.FlowLogTrafficType.REJECT } },
  })
  const dataSubnets = { subnetType: ec2.SubnetType.PRIVATE_ISOLATED }
  const appSg = new ec2.SecurityGroup(scope, 'TaskSecurityGroup', {
    vpc,
    description: 'Pixelflow tasks',
  })
  const dataSg = new ec2.SecurityGroup(scope, 'DataSecurityGroup', {
    vpc,
    description: 'PostgreSQL and Redis, reachable from Pixelflow tasks only',
    allowAllOutbound: false,
  })
  dataSg.addIngressRule(appSg, ec2.Port.tcp(5432), 'PostgreSQL from tasks')
  dataSg.addIngressRule(appSg, ec2.Port.tcp(6379), 'Redis from tasks')
  return { vpc, dataSubnets, appSg, dataSg }
}
