import { runDueRestarts } from '../shared/restarts/executor.ts'
import { taskInfo } from './catalog.ts'
import { defineTask } from './task.ts'

export default defineTask({
  ...taskInfo('restart-due'),
  run: async (ctx) => ({ ...(await runDueRestarts(ctx)) }),
})
