import { Validations } from 'aws-cdk-lib'
import type { IConstruct } from 'constructs'

export const ROTATION_REASON =
  'Rotating it changes the composed connection strings; rotate by updating the secret and redeploying (docs/deploy.md).'

/** A cdk-nag finding acknowledged on one construct, with the reason in code. */
export function ack(construct: IConstruct, id: string, reason: string): void {
  Validations.of(construct).acknowledge({ id, reason })
}
