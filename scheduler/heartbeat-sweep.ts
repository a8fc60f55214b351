import { sweepHeartbeats } from '../shared/health/heartbeat-sweep.ts'
import { defineTask, taskFence } from './task.ts'

const name = 'heartbeat-sweep'

export default defineTask({
  name,
  description: 'Marks instances whose heartbeat expired as lost (and back when it returns), one lifecycle event per transition; prunes instances lost longer than ORCHESTRATOR_HEARTBEAT_RETENTION',
  everySeconds: (ctx) => ctx.config.healthCheckIntervalSeconds,
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
