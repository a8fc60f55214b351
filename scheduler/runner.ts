import type { Context } from '../shared/context.ts'
import { createLease, readLeases, type Lease } from '../shared/lease.ts'
import { FencedOutError, fencedWrite } from '../shared/store/fenced.ts'
import { asString } from '../shared/store/ops.ts'
import { taskLeaseName, type Task, type TaskRunContext } from './task.ts'
import { tasks as registry } from './tasks.ts'
import { errorMessage } from '../shared/errors.ts'

export type Trigger = 'interval' | 'http' | 'cron' | 'manual'

/** What one trigger did with one task. */
export interface TaskReport {
  task: string
  ran: boolean
  /** Why it did not run: not due yet, another process holds the lease, or this process is already running it. */
  skipped?: 'not-due' | 'leader-elsewhere' | 'already-running' | 'stopping'
  leader?: string | null
  fence?: number
  startedAt?: string
  durationMs?: number
  ok?: boolean
  outcome?: Record<string, unknown>
  error?: string
  nextRunAt?: string
}

export interface SchedulerOptions {
  tasks?: readonly Task[]
  /** Shown as leader; default scheduler-<random>. The Node entries pass hostname:pid. */
  holder?: string
  leaseTtlMs?: number
  leaseRetryMs?: number
}

export interface Scheduler {
  readonly holder: string
  /** Starts the interval loop: every task ticks on its own timer (follower: retry interval; leader: when due). */
  start(): void
  /** One trigger: runs the named task now (even if not due), or every due task; under the lease. */
  runNow(opts?: { task?: string; force?: boolean; trigger?: Trigger }): Promise<TaskReport[]>
  /** Stops new ticks, waits up to graceMs for running tasks, then aborts them, then releases every lease. */
  stop(opts?: { graceMs?: number }): Promise<void>
}

/** Not due when less than this remains: a timer firing a little early must not skip a whole period. */
const DUE_SLACK_MS = 50

const registered = new WeakMap<object, Scheduler>()
/** The scheduler running in this process for this context (the combined server registers its own). */
export const schedulerOf = (ctx: Context) => registered.get(ctx)

export function createScheduler(ctx: Context, opts: SchedulerOptions = {}): Scheduler {
  const tasks = opts.tasks ?? registry
  const holder = (opts.holder ?? `scheduler-${crypto.randomUUID().slice(0, 8)}`).replaceAll('#', '_')
  const ttlMs = opts.leaseTtlMs ?? ctx.config.scheduler.leaseTtlMs
  const retryMs = opts.leaseRetryMs ?? ctx.config.scheduler.leaseRetryMs
  const leases = new Map<string, Lease>()
  const controllers = new Map<string, AbortController>()
  const running = new Map<string, Promise<TaskReport>>()
  const timers = new Map<string, ReturnType<typeof setTimeout>>()
  let looping = false
  let stopped = false

  const leaseOf = (task: Task) => {
    let lease = leases.get(task.name)
    if (!lease) {
      lease = createLease(ctx, taskLeaseName(task.name), {
        ttlMs,
        holder,
        onLost: (reason) => {
          ctx.log.warn('scheduler lease lost; aborting the task', { task: task.name, holder, reason })
          controllers.get(task.name)?.abort(new Error(`lease lost: ${reason}`))
        },
      })
      leases.set(task.name, lease)
    }
    return lease
  }

  const leaderOf = async (task: Task) => (await readLeases(ctx, [taskLeaseName(task.name)]))[0]?.holder ?? null

  async function execute(task: Task, lease: Lease, trigger: Trigger): Promise<TaskReport> {
    const fence = { key: ctx.keys.fence(taskLeaseName(task.name)), value: lease.fence ?? 0 }
    const record = ctx.keys.schedulerTask(task.name)
    const controller = new AbortController()
    const started = Date.now()
    try {
      await fencedWrite(ctx.store, fence, [['HSET', record, 'startedAt', started, 'holder', holder, 'fence', fence.value, 'trigger', trigger, 'running', 1]])
    } catch (e) {
      if (e instanceof FencedOutError) return { task: task.name, ran: false, skipped: 'leader-elsewhere', leader: await leaderOf(task) }
      throw e
    }
    controllers.set(task.name, controller)
    const report: TaskReport = { task: task.name, ran: true, fence: fence.value, startedAt: new Date(started).toISOString() }
    const t0 = performance.now()
    try {
      const runCtx: TaskRunContext = Object.assign(Object.create(ctx) as Context, { fence: fence.value })
      report.outcome = await task.run(runCtx, controller.signal)
      report.ok = true
    } catch (e) {
      report.ok = false
      report.error = controller.signal.aborted ? `aborted: ${String((controller.signal.reason as Error)?.message ?? controller.signal.reason)}` : errorMessage(e)
      ctx.log.warn('scheduled task failed', { task: task.name, error: report.error })
    } finally {
      controllers.delete(task.name)
    }
    report.durationMs = Math.round((performance.now() - t0) * 10) / 10
    report.nextRunAt = new Date(started + task.everySeconds(ctx) * 1000).toISOString()
    try {
      await fencedWrite(ctx.store, fence, [
        ['HSET', record, 'finishedAt', Date.now(), 'durationMs', report.durationMs, 'ok', report.ok ? 1 : 0, 'outcome', JSON.stringify(report.outcome ?? null), 'error', report.error ?? '', 'running', 0],
      ])
    } catch (e) {
      ctx.log.warn('could not record the task run', { task: task.name, error: errorMessage(e) })
    }
    return report
  }

  /** Next due time from the shared record (0 = never ran): the same answer in every process. */
  const nextRunOf = async (task: Task) => {
    const last = Number(asString(await ctx.store.call(['HGET', ctx.keys.schedulerTask(task.name), 'startedAt'])) ?? 0)
    return last > 0 ? last + task.everySeconds(ctx) * 1000 : 0
  }
  const notDue = (task: Task, nextRun: number, lease: Lease): TaskReport => ({
    task: task.name,
    ran: false,
    skipped: 'not-due',
    ...(lease.held() ? { leader: holder, fence: lease.fence ?? 0 } : {}),
    nextRunAt: new Date(nextRun).toISOString(),
  })

  async function runTask(task: Task, force: boolean, trigger: Trigger): Promise<TaskReport> {
    if (stopped) return { task: task.name, ran: false, skipped: 'stopping' }
    if (running.has(task.name)) return { task: task.name, ran: false, skipped: 'already-running' }
    const lease = leaseOf(task)
    // Checked before taking the lease too, so a cron trigger that comes early draws no fencing number.
    if (!force) {
      const nextRun = await nextRunOf(task)
      if (Date.now() < nextRun - DUE_SLACK_MS) return notDue(task, nextRun, lease)
    }
    let acquiredHere = false
    if (!lease.held()) {
      if ((await lease.tryAcquire()) === null) return { task: task.name, ran: false, skipped: 'leader-elsewhere', leader: await leaderOf(task) }
      acquiredHere = true
    }
    const work = (async (): Promise<TaskReport> => {
      try {
        // Again under the lease: another process may have run it between our check and our acquisition.
        const nextRun = await nextRunOf(task)
        if (!force && Date.now() < nextRun - DUE_SLACK_MS) return notDue(task, nextRun, lease)
        return await execute(task, lease, trigger)
      } finally {
        // A one-off trigger (no loop in this process) must not keep the lease: the next trigger may come from anywhere.
        if (acquiredHere && !looping) await lease.release().catch(() => {})
      }
    })()
    running.set(task.name, work)
    try {
      return await work
    } finally {
      running.delete(task.name)
    }
  }

  async function tick(task: Task) {
    timers.delete(task.name)
    if (stopped) return
    let delay = retryMs
    try {
      const lease = leaseOf(task)
      if (lease.held() || (await lease.tryAcquire()) !== null) {
        const report = await runTask(task, false, 'interval')
        const next = report.nextRunAt ? Date.parse(report.nextRunAt) : Date.now() + retryMs
        delay = Math.max(10, Math.min(next - Date.now(), task.everySeconds(ctx) * 1000))
      }
    } catch (e) {
      ctx.log.warn('scheduler tick failed; retrying', { task: task.name, error: errorMessage(e) })
    }
    if (stopped) return
    const timer = setTimeout(() => void tick(task), delay)
    timer.unref?.()
    timers.set(task.name, timer)
  }

  const self: Scheduler = {
    holder,
    start() {
      if (looping || stopped) return
      looping = true
      for (const task of tasks) void tick(task)
    },
    async runNow(o = {}) {
      const chosen = o.task ? tasks.filter((t) => t.name === o.task) : tasks
      if (o.task && chosen.length === 0) throw new Error(`unknown task ${o.task}; known: ${tasks.map((t) => t.name).join(', ')}`)
      const force = o.force ?? o.task !== undefined
      return Promise.all(chosen.map((t) => runTask(t, force, o.trigger ?? 'manual')))
    },
    async stop(o = {}) {
      stopped = true
      for (const t of timers.values()) clearTimeout(t)
      timers.clear()
      const all = Promise.allSettled([...running.values()])
      if ((o.graceMs ?? 0) > 0) await Promise.race([all, new Promise((r) => setTimeout(r, o.graceMs).unref?.())])
      for (const c of controllers.values()) c.abort(new Error('scheduler stopping'))
      await all
      await Promise.allSettled([...leases.values()].map((l) => l.release()))
      if (registered.get(ctx) === self) registered.delete(ctx)
    },
  }
  return self
}

/** Makes `s` the scheduler that HTTP triggers in this process use (see schedulerOf). */
export function registerScheduler(ctx: Context, s: Scheduler) {
  registered.set(ctx, s)
}

/**
 * One trigger from outside (HTTP, cron, a serverless function): uses this process's running
 * scheduler when there is one, else a one-off scheduler that takes each lease only for its run.
 * Safe to call from anywhere at once: the leases decide who runs.
 */
export async function runSchedulerOnce(ctx: Context, opts: { task?: string; force?: boolean; trigger?: Trigger; tasks?: readonly Task[] } = {}): Promise<TaskReport[]> {
  const existing = schedulerOf(ctx)
  if (existing) return existing.runNow(opts)
  const once = createScheduler(ctx, { tasks: opts.tasks })
  try {
    return await once.runNow(opts)
  } finally {
    await once.stop()
  }
}

