import { runDueRestarts } from '../shared/restarts/executor.ts'
import { defineTask } from './task.ts'

export default defineTask({
  name: 'restart-due',
  description: 'Starts restart requests whose coalescing window has passed but whose accepting process did not run them (it died, or the environment was at its limit)',
  everySeconds: () => 5,
  run: async (ctx) => ({ ...(await runDueRestarts(ctx)) }),
})
