import { App } from 'aws-cdk-lib'
import { addPixelflow } from '../lib/app.js'

/**
 * `npx cdk synth`: offline, no AWS account (the stack is environment-agnostic). Context:
 * -c shards=4 -c image=<registry>/pixelflow:<tag> -c queueMaxAttempts=5
 */
const app = new App()
const context = (key: string) => {
  const value: unknown = app.node.tryGetContext(key)
  return value === undefined ? undefined : String(value)
}
const number = (key: string) => (context(key) === undefined ? undefined : Number(context(key)))
addPixelflow(app, {
  image: context('image'),
  shards: number('shards'),
  queueMaxAttempts: number('queueMaxAttempts'),
})
