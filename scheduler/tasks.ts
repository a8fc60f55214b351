import degradationCheck from './degradation-check.ts'
import environmentWatch from './environment-watch.ts'
import heartbeatIndex from './heartbeat-index.ts'
import heartbeatSweep from './heartbeat-sweep.ts'
import outboxRelay from './outbox-relay.ts'
import restartDue from './restart-due.ts'
import routingRefresh from './routing-refresh.ts'
import secretSync from './secret-sync.ts'
import type { Task } from './task.ts'

/** The registry: every scheduled task, nothing else. */
export const tasks: Task[] = [heartbeatIndex, heartbeatSweep, degradationCheck, outboxRelay, secretSync, environmentWatch, routingRefresh, restartDue]
