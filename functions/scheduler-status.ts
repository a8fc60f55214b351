import * as v from 'valibot'
import { readSchedulerStatus } from '../scheduler/status.ts'
import { defineFunction } from '../shared/function.ts'

export default defineFunction({
  name: 'scheduler-status',
  method: 'GET',
  path: '/orchestrator/scheduler',
  permission: 'viewer',
  runtime: 'edge',
  summary: 'Scheduled tasks: last run, duration, outcome, next run, current leader and fencing number',
  input: v.object({}),
  output: v.object({
    checkedAt: v.string(),
    tasks: v.array(
      v.object({
        name: v.string(),
        description: v.string(),
        everySeconds: v.number(),
        running: v.boolean(),
        lastRun: v.nullable(
          v.object({
            startedAt: v.string(),
            finishedAt: v.nullable(v.string()),
            durationMs: v.nullable(v.number()),
            ok: v.nullable(v.boolean()),
            outcome: v.unknown(),
            error: v.nullable(v.string()),
            holder: v.nullable(v.string()),
            fence: v.nullable(v.number()),
            trigger: v.nullable(v.string()),
          }),
        ),
        nextRunAt: v.string(),
        leader: v.nullable(v.object({ holder: v.string(), expiresInMs: v.nullable(v.number()) })),
        fence: v.number(),
      }),
    ),
  }),
  handler: async (_input, ctx) => readSchedulerStatus(ctx),
})
