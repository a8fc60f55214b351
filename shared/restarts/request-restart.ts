import type { Context } from '../context.ts'
import { OrchestratorError } from '../errors.ts'
import { emit } from '../events/outbox.ts'
import { asArray, asString } from '../store/ops.ts'
import { lifecycle, scheduleRun } from './executor.ts'
import { acceptRestart, type Merge } from './scripts.ts'
import { findRecordedApp, resolveTarget } from './target.ts'
import type { PendingRestart, RestartRequest } from './types.ts'

/** The reference's response, plus which restart this request joined and how. */
export interface RestartAccepted {
  accepted: true
  appName: string
  /** null while an edge-queued request for an app no revision records waits to be resolved. */
  environment: string | null
  restartId: string
  /**
   * scheduled = a new restart this process runs when its window closes; queued = a new restart
   * left in Redis for a Node orchestrator (this runtime has no container backend);
   * coalesced = merged into a pending one; running = joined the running one.
   */
  status: 'scheduled' | 'queued' | 'coalesced' | 'running'
  scheduledFor: string
  /** Instances now (null when this runtime cannot see them and no revision records the app). */
  currentInstances: number | null
  restartStrategy: 'rolling' | 'simultaneous'
  priority: PendingRestart['priority']
  requests: number
}

/** How long a pending request outlives its due time if no process runs it (the scheduler picks it up long before). */
const PENDING_GRACE_MS = 10 * 60_000

/** Where a request goes: the app as the backend runs it (Node), or as far as Redis knows it (edge). */
interface Located {
  appId: string
  environment: string
  app: string
  instances: number | null
}

/**
 * Node: the backend says what runs (404/409 as resolveTarget). Edge (no backend drivers): the
 * environments' current revisions name the app's canonical id and environment, so requests
 * from both runtimes coalesce on the same key; an app no revision records is queued under the
 * name given, unresolved, and the Node side resolves it before it runs (restart-due task).
 */
async function locate(ctx: Context, req: RestartRequest): Promise<Located> {
  if (ctx.platform.backendDrivers) {
    const t = await resolveTarget(ctx, req.appName, req.environment)
    return { appId: t.appId, environment: t.environment, app: t.app, instances: t.instances.length }
  }
  const r = await findRecordedApp(ctx, req.appName, req.environment)
  if (r) return { appId: r.appId, environment: r.environment, app: r.app, instances: r.units.length }
  return { appId: req.appName, environment: req.environment ?? '', app: '', instances: null }
}

/**
 * THE entry of the restart path (endpoint, services/restart, the degradation task).
 * Coalesces requests for one app within ORCHESTRATOR_RESTART_COALESCE_WINDOW, joins a running
 * restart instead of starting a second one, and refuses with 429 (Retry-After) once the app's
 * budget (ORCHESTRATOR_RESTART_BUDGET per ORCHESTRATOR_RESTART_BUDGET_WINDOW) is spent.
 */
export async function requestRestart(ctx: Context, req: RestartRequest): Promise<RestartAccepted> {
  const target = await locate(ctx, req)
  const appName = target.appId
  // Only a process with a backend runs restarts; elsewhere the request waits in Redis for one.
  const runsHere = ctx.platform.backendDrivers !== undefined
  const now = ctx.clock.now()
  const cfg = ctx.config.restarts
  const windowMs = Math.round(cfg.coalesceWindowSeconds * 1000)
  const grace = req.shutdownGracePeriod ?? ctx.config.deploy.stopGraceSeconds
  const fresh: PendingRestart = {
    id: crypto.randomUUID(),
    appName,
    environment: target.environment,
    app: target.app,
    requestedAt: now,
    dueAt: now + windowMs,
    priority: req.priority,
    shutdownGracePeriod: grace,
    reasons: [req.reason],
    requestedBy: [req.requestedBy],
    env: req.env ?? {},
    maxParallel: Math.max(1, req.maxParallel ?? 1),
    requests: 1,
    ...(target.app === '' ? { unresolved: true } : {}),
  }
  const merge: Merge = { reason: req.reason, requestedBy: req.requestedBy, priority: req.priority, grace, env: req.env ?? {} }
  const reply = asArray(
    await ctx.store.runScript(
      acceptRestart,
      [ctx.keys.restartRunning(appName), ctx.keys.restartPending(appName), ctx.keys.restartBudget(appName), ctx.keys.restartQueue],
      [now, cfg.budget, cfg.budgetWindowSeconds * 1000, windowMs + PENDING_GRACE_MS, JSON.stringify(fresh), appName, JSON.stringify(merge)],
    ),
  )
  const outcome = String(reply[0])
  if (outcome === 'budget') {
    const oldest = Number(asString(reply[1] ?? null) ?? now)
    const retryAt = oldest + cfg.budgetWindowSeconds * 1000
    const retryAfterSeconds = Math.max(1, Math.ceil((retryAt - now) / 1000))
    throw new OrchestratorError({
      status: 429,
      code: 'restart-budget-exhausted',
      title: 'Restart budget exhausted',
      detail: `App "${appName}" was restarted ${cfg.budget} time(s) in the last ${cfg.budgetWindowSeconds} s, its budget; retry after ${new Date(retryAt).toISOString()}. This stops a crash-looping configuration from causing a restart storm.`,
      retryAfterSeconds,
      extra: { appName, budget: cfg.budget, budgetWindowSeconds: cfg.budgetWindowSeconds, retryAt: new Date(retryAt).toISOString() },
    })
  }
  const p = JSON.parse(asString(reply[1] ?? null)!) as PendingRestart
  const status = outcome === 'new' ? (runsHere ? 'scheduled' : 'queued') : outcome === 'merged' ? 'coalesced' : 'running'
  if (outcome === 'new') {
    await emit(ctx, [lifecycle('restart.requested', p.environment, { restartId: p.id, appName, priority: p.priority, reason: req.reason, requestedBy: req.requestedBy, dueAt: new Date(p.dueAt).toISOString(), ...(runsHere ? {} : { queued: true }) })])
    if (runsHere) scheduleRun(ctx, appName, p.id, windowMs)
  }
  return {
    accepted: true,
    appName,
    environment: p.environment || null,
    restartId: p.id,
    status,
    scheduledFor: new Date(status === 'running' ? p.startedAt ?? p.dueAt : p.dueAt).toISOString(),
    currentInstances: target.instances,
    restartStrategy: p.priority === 'force' ? 'simultaneous' : 'rolling',
    priority: p.priority,
    requests: p.requests,
  }
}
