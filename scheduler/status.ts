import type { Context } from '../shared/context.ts'
import { readLeases } from '../shared/lease.ts'
import { asHash, parseJson } from '../shared/store/ops.ts'
import { taskCatalog } from './catalog.ts'
import { taskLeaseName, type TaskInfo } from './task.ts'

export interface TaskStatus {
  name: string
  description: string
  everySeconds: number
  running: boolean
  lastRun: {
    startedAt: string
    finishedAt: string | null
    durationMs: number | null
    ok: boolean | null
    outcome: unknown
    error: string | null
    holder: string | null
    fence: number | null
    trigger: string | null
  } | null
  nextRunAt: string
  leader: { holder: string; expiresInMs: number | null } | null
  fence: number
}

const iso = (ms: string | undefined) => (ms && Number(ms) > 0 ? new Date(Number(ms)).toISOString() : null)

/** Reads every task's last run and lease in one pipeline plus one for the leases; works from any process. */
export async function readSchedulerStatus(ctx: Context, tasks: readonly TaskInfo[] = taskCatalog): Promise<{ checkedAt: string; tasks: TaskStatus[] }> {
  const now = ctx.clock.now()
  const [records, leases] = await Promise.all([
    ctx.store.pipeline(tasks.map((t) => ['HGETALL', ctx.keys.schedulerTask(t.name)] as const)),
    readLeases(ctx, tasks.map((t) => taskLeaseName(t.name))),
  ])
  return {
    checkedAt: new Date(now).toISOString(),
    tasks: tasks.map((t, i): TaskStatus => {
      const h = asHash(records[i]!)
      const every = t.everySeconds(ctx)
      const started = iso(h.startedAt)
      const lease = leases[i]!
      const outcome = parseJson(h.outcome ?? null)
      return {
        name: t.name,
        description: t.description,
        everySeconds: every,
        running: h.running === '1',
        lastRun: started
          ? {
              startedAt: started,
              finishedAt: iso(h.finishedAt),
              durationMs: h.durationMs === undefined ? null : Number(h.durationMs),
              ok: h.ok === undefined ? null : h.ok === '1',
              outcome: outcome.ok ? outcome.value : null,
              error: h.error ? h.error : null,
              holder: h.holder ?? null,
              fence: h.fence === undefined ? null : Number(h.fence),
              trigger: h.trigger ?? null,
            }
          : null,
        // Never run: due now. Otherwise one period after the last start (the leader may be late if it just changed).
        nextRunAt: new Date(started ? Math.max(Date.parse(started) + every * 1000, 0) : now).toISOString(),
        leader: lease.holder ? { holder: lease.holder, expiresInMs: lease.expiresInMs } : null,
        fence: lease.fence,
      }
    }),
  }
}
