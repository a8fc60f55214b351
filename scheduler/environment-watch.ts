import { watchEnvironments } from '../shared/environments/watch.ts'
import { taskInfo } from './catalog.ts'
import { defineTask } from './task.ts'

export default defineTask({
  ...taskInfo('environment-watch'),
  run: async (ctx) => ({ environments: await watchEnvironments(ctx) }),
})
