import { sweepHeartbeats } from '../shared/health/heartbeat-sweep.ts'
import { taskInfo } from './catalog.ts'
import { defineTask, taskFence } from './task.ts'

const name = 'heartbeat-sweep'

export default defineTask({
  ...taskInfo(name),
  run: async (ctx, signal) => ({
    ...(await sweepHeartbeats(
      {
        store: ctx.store,
        keys: ctx.keys,
        now: ctx.clock.now,
        heartbeatTimeoutSeconds: ctx.config.heartbeatTimeoutSeconds,
        retentionSeconds: ctx.config.scheduler.heartbeatRetentionSeconds,
      },
      { fence: taskFence(ctx, name), signal },
    )),
  }),
})
