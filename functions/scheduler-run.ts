import * as v from 'valibot'
import { runSchedulerOnce } from '../scheduler/runner.ts'
import { tasks } from '../scheduler/tasks.ts'
import { defineFunction } from '../shared/function.ts'

const names = tasks.map((t) => t.name)

export default defineFunction({
  name: 'scheduler-run',
  method: 'POST',
  path: '/orchestrator/scheduler/run',
  permission: 'admin',
  runtime: 'edge',
  summary: 'Trigger for external cron / serverless schedulers: runs the named task now, or every due task, under the singleton lease',
  input: v.object({
    task: v.optional(v.picklist(names, `must be one of ${names.join(', ')}`)),
    /** Without a task: also run tasks that are not due yet. */
    force: v.optional(v.union([v.boolean(), v.pipe(v.picklist(['true', 'false']), v.transform((s) => s === 'true'))], 'must be true or false')),
  }),
  output: v.object({
    ran: v.array(
      v.object({
        task: v.string(),
        ran: v.boolean(),
        skipped: v.optional(v.string()),
        leader: v.optional(v.nullable(v.string())),
        fence: v.optional(v.number()),
        startedAt: v.optional(v.string()),
        durationMs: v.optional(v.number()),
        ok: v.optional(v.boolean()),
        outcome: v.optional(v.record(v.string(), v.unknown())),
        error: v.optional(v.string()),
        nextRunAt: v.optional(v.string()),
      }),
    ),
  }),
  handler: async ({ task, force }, ctx) => ({ ran: await runSchedulerOnce(ctx, { task, force, trigger: 'http' }) }),
})
