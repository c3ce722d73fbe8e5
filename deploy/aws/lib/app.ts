import { type App, Validations } from 'aws-cdk-lib'
import { AwsSolutionsChecks } from 'cdk-nag'
import { PixelflowStack, type PixelflowStackProps } from './pixelflow-stack.js'

/**
 * What `npx cdk synth` (bin/app.ts) and the tests put in an app: the stack, with the AWS
 * Solutions checks as a validation plugin, so any finding not acknowledged in code with a reason
 * fails the synth.
 */
export function addPixelflow(app: App, props: PixelflowStackProps = {}): PixelflowStack {
  const stack = new PixelflowStack(app, 'Pixelflow', props)
  Validations.of(app).addPlugins(new AwsSolutionsChecks(app))
  return stack
}
