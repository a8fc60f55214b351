import { watchEnvironments } from '../shared/environments/watch.ts'
import { defineTask } from './task.ts'

export default defineTask({
  name: 'environment-watch',
  description: 'Rolls back deploys interrupted by a crash; after an infrastructure outage starts exited apps then sidecars again, once',
  everySeconds: (ctx) => Math.min(ctx.config.healthCheckIntervalSeconds, 10),
  run: async (ctx) => ({ environments: await watchEnvironments(ctx) }),
})
