import { defineTask } from './task.ts'

export default defineTask({
  name: 'secret-sync',
  description: 'Placeholder: does nothing yet. The secrets issue fills it (resolve ${secrets:…} references, sync providers, publish changed keys).',
  everySeconds: (ctx) => ctx.config.healthCheckIntervalSeconds,
  run: async () => ({ placeholder: true }),
})
