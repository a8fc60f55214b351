import { reconcileHeartbeatIndex } from '../shared/heartbeats/reconcile.ts'
import { taskInfo } from './catalog.ts'
import { defineTask } from './task.ts'

export default defineTask({
  ...taskInfo('heartbeat-index'),
  run: async (ctx) => ({ ...(await reconcileHeartbeatIndex({ store: ctx.store, keys: ctx.keys, now: ctx.clock.now })) }),
})
