import { checkDegradation } from '../shared/health/degradation.ts'
import { defineTask, taskFence } from './task.ts'

const name = 'degradation-check'

export default defineTask({
  name,
  description: 'Tracks degraded-since per instance and requests a restart (auto:degraded / auto:unavailable) when the smart-restart rules say so; repeats coalesce',
  everySeconds: (ctx) => ctx.config.healthCheckIntervalSeconds,
  run: async (ctx, signal) => ({ ...(await checkDegradation(ctx, { fence: taskFence(ctx, name), signal })) }),
})
