import degradationCheck from './degradation-check.ts'
import heartbeatIndex from './heartbeat-index.ts'
import heartbeatSweep from './heartbeat-sweep.ts'
import { taskInfo } from './catalog.ts'
import restartDue from './restart-due.ts'
import routingRefresh from './routing-refresh.ts'
import secretSync from './secret-sync.ts'
import { defineTask, type Task } from './task.ts'

/**
 * The registry edge bundles are built with: deploy/build.ts puts it in place of tasks.ts.
 * Watching environments drives containers and relaying events needs an AMQP connection,
 * neither of which an edge runtime has, so here those tasks only say who does them instead
 * of carrying the deploy engine and the relay into every isolate (each KB of bundle is start
 * time in workerd). Same names, same order as tasks.ts.
 */
const environmentWatch = defineTask({
  ...taskInfo('environment-watch'),
  run: async () => ({ environments: [], skipped: 'no container backend on this runtime; the Node orchestrator watches environments' }),
})

const outboxRelay = defineTask({
  ...taskInfo('outbox-relay'),
  run: async () => ({ skipped: 'no AMQP on this runtime: events wait in the outbox until a Node orchestrator relays them' }),
})

export const tasks: Task[] = [heartbeatIndex, heartbeatSweep, degradationCheck, outboxRelay, secretSync, environmentWatch, routingRefresh, restartDue]
