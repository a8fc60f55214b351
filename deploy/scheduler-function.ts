import { tasks as allTasks } from '../scheduler/tasks.ts'
import type { Task } from '../scheduler/task.ts'
import { runSchedulerOnce, type TaskReport, type Trigger } from '../scheduler/runner.ts'
import { ConfigError, loadConfig, type EnvRecord } from '../shared/config.ts'
import { createContext, type Context } from '../shared/context.ts'
import { problemType } from '../shared/http/problem.ts'
import { edgePlatform, type Platform } from '../shared/platform.ts'
import { configErrorResponse, envStrings } from './fetch-handler.ts'

/**
 * Runs the named tasks now (even if not due), or every due task, through the lease-aware
 * scheduler: safe to trigger from cron, HTTP and the combined server at once.
 */
export async function runTasksOnce(ctx: Context, names?: readonly string[], trigger: Trigger = 'http', tasks: readonly Task[] = allTasks): Promise<TaskReport[]> {
  if (!names?.length) return runSchedulerOnce(ctx, { trigger, tasks })
  return (await Promise.all(names.map((task) => runSchedulerOnce(ctx, { task, trigger, tasks })))).flat()
}

const json = (status: number, body: unknown, type = 'application/json') =>
  new Response(JSON.stringify(body), { status, headers: { 'content-type': type } })

const problem = (status: number, code: string, title: string, detail: string, errors?: { field: string; message: string }[]) =>
  json(status, { type: problemType(code), title, status, detail, ...(errors ? { errors } : {}) }, 'application/problem+json')

interface ScheduledController {
  cron?: string
  scheduledTime?: number
}

/**
 * dist/scheduler.mjs: the scheduler as a function.
 *   POST /orchestrator/scheduler/run[?task=a,b]  HTTP trigger (any cron service, curl, a CI job)
 *   scheduled(event, env, ctx)                    workerd / Cloudflare cron trigger
 */
export function createSchedulerWorker(opts: { platform?: Platform; defaultEnv?: () => EnvRecord } = {}) {
  let ctx: Context | undefined
  const contextFor = (env: unknown) =>
    (ctx ??= createContext(loadConfig(env === undefined && opts.defaultEnv ? opts.defaultEnv() : envStrings(env)), opts.platform ?? edgePlatform))

  return {
    async fetch(request: Request, env?: unknown): Promise<Response> {
      const url = new URL(request.url)
      if (url.pathname !== '/orchestrator/scheduler/run') {
        return problem(404, 'not-found', 'No such endpoint', `${request.method} ${url.pathname} is not served here; POST /orchestrator/scheduler/run runs the scheduled tasks once.`)
      }
      if (request.method !== 'POST') return problem(405, 'method-not-allowed', 'Method not allowed', 'use POST /orchestrator/scheduler/run')
      let c: Context
      try {
        c = contextFor(env)
      } catch (e) {
        if (e instanceof ConfigError) return configErrorResponse(e)
        throw e
      }
      const names = (url.searchParams.get('task') ?? '').split(',').map((s) => s.trim()).filter(Boolean)
      const unknown = names.filter((n) => !allTasks.some((t) => t.name === n))
      if (unknown.length > 0) {
        const known = allTasks.map((t) => t.name).join(', ')
        return problem(400, 'validation-failed', 'Unknown task', `unknown task ${unknown.join(', ')}; known tasks: ${known}`, [
          { field: 'task', message: `must be one of ${known}` },
        ])
      }
      const ran = await runTasksOnce(c, names)
      return json(ran.every((r) => r.ok !== false) ? 200 : 500, { ran })
    },

    /** Cron trigger: every task once; throws when one failed so the platform records the failure. */
    async scheduled(event: ScheduledController, env: unknown, execution?: { waitUntil(p: Promise<unknown>): void }): Promise<void> {
      const c = contextFor(env)
      const work = runTasksOnce(c, undefined, 'cron')
      execution?.waitUntil(work)
      const failed = (await work).filter((r) => r.ok === false)
      if (failed.length > 0) throw new Error(`scheduled run (${event.cron ?? 'manual'}) failed: ${failed.map((f) => `${f.task}: ${f.error}`).join('; ')}`)
    },
  }
}
