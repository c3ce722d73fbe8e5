import { Duration } from 'aws-cdk-lib'
import * as cloudwatch from 'aws-cdk-lib/aws-cloudwatch'
import { SnsAction } from 'aws-cdk-lib/aws-cloudwatch-actions'
import * as elbv2 from 'aws-cdk-lib/aws-elasticloadbalancingv2'
import * as kms from 'aws-cdk-lib/aws-kms'
import * as sns from 'aws-cdk-lib/aws-sns'
import type { Construct } from 'constructs'
import type { Queues } from './queue.js'

export interface AlarmsProps {
  readonly queues: Queues
  readonly alb: elbv2.ApplicationLoadBalancer
  readonly apiTargets: elbv2.ApplicationTargetGroup
}

/** Alarms on dead letters, queue age and API 5xx → an SNS topic for the operator. */
export function addAlarms(scope: Construct, props: AlarmsProps): sns.Topic {
  const topic = new sns.Topic(scope, 'Alarms', {
    enforceSSL: true,
    masterKey: kms.Alias.fromAliasName(scope, 'SnsKey', 'alias/aws/sns'),
  })
  const notify = new SnsAction(topic)
  const alarm = (name: string, alarmProps: cloudwatch.AlarmProps) =>
    new cloudwatch.Alarm(scope, name, alarmProps).addAlarmAction(notify)
  alarm('DeadLetters', deadLetters(props.queues))
  alarm('OldestJob', oldestJob(props.queues))
  alarm('Api5xxRate', api5xxRate(props))
  return topic
}

function deadLetters({ deadLetterQueue }: Queues): cloudwatch.AlarmProps {
  return {
    alarmDescription: 'Jobs were dead-lettered: pixelflow dead list / dead redrive',
    metric: deadLetterQueue.metricApproximateNumberOfMessagesVisible({
      period: Duration.minutes(1),
      statistic: 'Maximum',
    }),
    threshold: 0,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 1,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  }
}

function oldestJob({ queue }: Queues): cloudwatch.AlarmProps {
  return {
    alarmDescription:
      'A job has waited over 5 minutes: workers are not keeping up (or are at their maximum)',
    metric: queue.metricApproximateAgeOfOldestMessage({
      period: Duration.minutes(1),
      statistic: 'Maximum',
    }),
    threshold: 300,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 5,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  }
}

function api5xxRate({ alb, apiTargets }: AlarmsProps): cloudwatch.AlarmProps {
  return {
    alarmDescription: 'Over 1% of API responses are 5xx',
    metric: new cloudwatch.MathExpression({
      label: '5xx %',
      expression: '100 * (e5 + t5) / MAX([requests, 1])',
      usingMetrics: {
        e5: alb.metrics.httpCodeElb(elbv2.HttpCodeElb.ELB_5XX_COUNT, { statistic: 'Sum' }),
        t5: apiTargets.metrics.httpCodeTarget(elbv2.HttpCodeTarget.TARGET_5XX_COUNT, {
          statistic: 'Sum',
        }),
        requests: alb.metrics.requestCount({ statistic: 'Sum' }),
      },
      period: Duration.minutes(1),
    }),
    threshold: 1,
    comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
    evaluationPeriods: 3,
    treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
  }
}
