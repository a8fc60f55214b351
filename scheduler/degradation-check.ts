import { checkDegradation } from '../shared/health/degradation.ts'
import { taskInfo } from './catalog.ts'
import { defineTask, taskFence } from './task.ts'

const name = 'degradation-check'

export default defineTask({
  ...taskInfo(name),
  run: async (ctx, signal) => ({ ...(await checkDegradation(ctx, { fence: taskFence(ctx, name), signal })) }),
})
