import { taskInfo } from './catalog.ts'
import { defineTask } from './task.ts'

export default defineTask({
  ...taskInfo('secret-sync'),
  run: async () => ({ placeholder: true }),
})
