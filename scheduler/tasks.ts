import environmentWatch from './environment-watch.ts'
import heartbeatIndex from './heartbeat-index.ts'
import restartDue from './restart-due.ts'
import type { Task } from './task.ts'

/** The registry: every scheduled task, nothing else. */
export const tasks: Task[] = [heartbeatIndex, environmentWatch, restartDue]
