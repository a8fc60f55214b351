import type { Context } from '../shared/context.ts'
import type { Task } from './task.ts'

export interface IntervalRunner {
  /** Runs every task once now (used at startup). */
  runAll(): Promise<void>
  stop(): Promise<void>
}

/**
 * The in-process trigger: each task on its own interval, never overlapping itself.
 * Failures are logged and retried on the next tick; they never stop the loop.
 */
export function startIntervalRunner(ctx: Context, tasks: readonly Task[]): IntervalRunner {
  const controller = new AbortController()
  const running = new Map<string, Promise<void>>()
  const runOne = (task: Task) => {
    if (running.has(task.name) || controller.signal.aborted) return running.get(task.name) ?? Promise.resolve()
    const p = task
      .run({ ...ctx, fence: 0 }, controller.signal)
      .then((outcome) => ctx.log.debug('task ran', { task: task.name, ...outcome }))
      .catch((e) => ctx.log.warn('task failed', { task: task.name, error: e instanceof Error ? e.message : String(e) }))
      .finally(() => running.delete(task.name))
    running.set(task.name, p)
    return p
  }
  const timers = tasks.map((t) => {
    const timer = setInterval(() => void runOne(t), t.everySeconds(ctx) * 1000)
    timer.unref?.()
    return timer
  })
  return {
    runAll: async () => {
      await Promise.all(tasks.map(runOne))
    },
    stop: async () => {
      timers.forEach(clearInterval)
      controller.abort()
      await Promise.allSettled(running.values())
    },
  }
}
