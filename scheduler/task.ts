import type { Context } from '../shared/context.ts'

export interface TaskRunContext extends Context {
  /** Fencing number of the lease this run holds (0 when run without a lease). */
  fence: number
}

/** What a task is (scheduler/catalog.ts), apart from what it does. */
export interface TaskInfo {
  name: string
  description: string
  everySeconds: (ctx: Context) => number
}

/** A periodic job: a plain object, registered in scheduler/tasks.ts. */
export interface Task extends TaskInfo {
  run(ctx: TaskRunContext, signal: AbortSignal): Promise<Record<string, unknown>>
}

export const defineTask = (t: Task): Task => t

/** Each task has its own lease, so different tasks may lead on different processes. */
export const taskLeaseName = (taskName: string) => `scheduler:${taskName}`

/** The fence a task's writes carry: refused once a newer leader of the same task exists. */
export const taskFence = (ctx: TaskRunContext, taskName: string) => ({ key: ctx.keys.fence(taskLeaseName(taskName)), value: ctx.fence })
