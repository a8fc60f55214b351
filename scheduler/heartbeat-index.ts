import { reconcileHeartbeatIndex } from '../shared/heartbeats/reconcile.ts'
import { defineTask } from './task.ts'

export default defineTask({
  name: 'heartbeat-index',
  description: 'Adds heartbeat keys written by other clients (plain SET service:heartbeat:…) to the orchestrator index, by incremental SCAN',
  everySeconds: (ctx) => ctx.config.healthCheckIntervalSeconds,
  run: async (ctx) => ({ ...(await reconcileHeartbeatIndex({ store: ctx.store, keys: ctx.keys, now: ctx.clock.now })) }),
})
