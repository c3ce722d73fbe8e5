import { describeRenderLocks } from '../../../test/contracts/render-locks.contract.js'
import { createMemoryLocks } from './memory.js'

describeRenderLocks('memory', async () => {
  const locks = createMemoryLocks()
  return [locks, locks]
})
