import { refreshRouting } from '../shared/environments/routing.ts'
import { taskInfo } from './catalog.ts'
import { defineTask } from './task.ts'

export default defineTask({
  ...taskInfo('routing-refresh'),
  run: async (ctx) => ({ ...(await refreshRouting(ctx)) }),
})
