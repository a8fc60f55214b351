import type { RestartAppResult } from '../backends/types.ts'
import type { Context } from '../context.ts'
import { emit } from '../events/outbox.ts'
import { stamp, type LifecycleEvent, type OutboundEvent } from '../events/schemas.ts'
import { acquireLease, releaseLease, renewLease } from '../environments/records.ts'
import { OrchestratorError, errorMessage } from '../errors.ts'
import { compareAndDelete } from '../store/scripts.ts'
import { asArray, asString } from '../store/ops.ts'
import { waitForHealthyHeartbeat } from './health-wait.ts'
import { claimRestart, compareAndReplace } from './scripts.ts'
import { resolveTarget } from './target.ts'
import { HISTORY_KEPT, type PendingRestart, type RestartHistoryEntry } from './types.ts'

/**
 * Runs restarts whose coalescing window has passed: claims the pending request (one running
 * restart per app, at most N per environment), asks the backend to restart the app with the
 * strategy, records the outcome in the capped history list and emits restart.completed.
 * A timer in the accepting process runs it on time; the restart-due scheduler task picks up
 * requests whose process died.
 */
const RUNNING_TTL_MS = 60_000
const RENEW_MS = 15_000
const WAIT_RETRY_MS = 1_000
/** How long a restart waits for a deploy or teardown of its environment to finish. */
const LEASE_WAIT_MS = 120_000

const timers = new WeakMap<Context, Set<ReturnType<typeof setTimeout>>>()
const inFlight = new Map<string, Promise<RestartHistoryEntry>>()

/** The outcome of a restart running in this process (tests, benchmarks). */
export const restartInFlight = (id: string) => inFlight.get(id)

export const lifecycle = (type: LifecycleEvent['type'], environment: string, data: Record<string, unknown>): OutboundEvent => ({
  kind: 'lifecycle',
  event: stamp({ type, source: 'orchestrator' as const, environment, data }) as LifecycleEvent,
})

/** Runs the claim for one app after `delayMs` (its coalescing window), retrying while the environment is at its limit. */
export function scheduleRun(ctx: Context, appName: string, id: string, delayMs: number) {
  let set = timers.get(ctx)
  if (!set) timers.set(ctx, (set = new Set()))
  const own = set
  const t = setTimeout(() => {
    own.delete(t)
    void tryRun(ctx, appName, id)
      .then((outcome) => (outcome === 'wait' ? scheduleRun(ctx, appName, id, WAIT_RETRY_MS) : undefined))
      .catch((e) => ctx.log.warn('restart could not start', { appName, error: String(e) }))
  }, Math.max(0, delayMs))
  set.add(t)
}

/** Stops the timers of one context (tests dispose contexts while windows are open). */
export function cancelScheduledRestarts(ctx: Context) {
  for (const t of timers.get(ctx) ?? []) clearTimeout(t)
  timers.delete(ctx)
}

export async function tryRun(ctx: Context, appName: string, id: string): Promise<'claimed' | 'gone' | 'busy' | 'wait'> {
  const raw = asString(await ctx.store.call(['GET', ctx.keys.restartPending(appName)]))
  if (!raw) return 'gone'
  const pending = JSON.parse(raw) as PendingRestart
  if (pending.unresolved) return resolveQueued(ctx, appName, id, raw, pending)
  const env = pending.environment
  const now = ctx.clock.now()
  const reply = asArray(
    await ctx.store.runScript(
      claimRestart,
      [ctx.keys.restartPending(appName), ctx.keys.restartRunning(appName), ctx.keys.restartSlots(env), ctx.keys.restartQueue],
      [now, id, RUNNING_TTL_MS, ctx.config.restarts.maxConcurrentPerEnvironment, appName],
    ),
  )
  const outcome = String(reply[0]) as 'claimed' | 'gone' | 'busy' | 'wait'
  if (outcome !== 'claimed') return outcome
  const json = asString(reply[1] ?? null)!
  const p = JSON.parse(json) as PendingRestart
  const done = execute(ctx, p, json).finally(() => inFlight.delete(p.id))
  inFlight.set(p.id, done)
  void done.catch((e) => ctx.log.error('restart failed unexpectedly', { appName, error: String(e) }))
  return 'claimed'
}

/**
 * An edge runtime queued this request without knowing where the app runs: find it through the
 * backend, write environment and app into the pending request, then claim it as usual. An app
 * that runs nowhere (or in several environments) ends the request as a failed restart in its
 * history, with the reason, instead of dropping it. A backend that does not answer leaves the
 * request queued for the next restart-due run.
 */
async function resolveQueued(ctx: Context, appName: string, id: string, raw: string, p: PendingRestart): Promise<'claimed' | 'gone' | 'busy' | 'wait'> {
  if (p.id !== id) return 'gone'
  try {
    const t = await resolveTarget(ctx, appName, p.environment || undefined)
    const { unresolved: _, ...rest } = p
    const ok = await ctx.store.runScript(compareAndReplace, [ctx.keys.restartPending(appName)], [raw, JSON.stringify({ ...rest, environment: t.environment, app: t.app })])
    return Number(ok) === 1 ? tryRun(ctx, appName, id) : 'gone'
  } catch (e) {
    if (!(e instanceof OrchestratorError) || (e.status !== 404 && e.status !== 409)) throw e
    const gone = await ctx.store.runScript(compareAndDelete, [ctx.keys.restartPending(appName)], [raw])
    await ctx.store.call(['ZREM', ctx.keys.restartQueue, appName])
    if (Number(gone) === 1) await record(ctx, p, p.requestedAt, 'unknown', { ok: false, replaced: [], kept: [], error: `could not resolve the app: ${e.detail}` })
    return 'gone'
  }
}

/**
 * Scheduler entry: every pending request whose window has passed (a crashed process left it
 * behind, or an edge runtime queued it). A runtime without a backend only reports them: the
 * Node orchestrator's scheduler runs them.
 */
export async function runDueRestarts(ctx: Context): Promise<{ started: number; waiting: number; queuedForNode?: number }> {
  const due = asArray(await ctx.store.call(['ZRANGEBYSCORE', ctx.keys.restartQueue, '-inf', ctx.clock.now(), 'LIMIT', 0, 100])).map(String)
  if (!ctx.platform.backendDrivers) return { started: 0, waiting: 0, queuedForNode: due.length }
  let started = 0
  let waiting = 0
  for (const appName of due) {
    const raw = asString(await ctx.store.call(['GET', ctx.keys.restartPending(appName)]))
    if (!raw) {
      await ctx.store.call(['ZREM', ctx.keys.restartQueue, appName])
      continue
    }
    const outcome = await tryRun(ctx, appName, (JSON.parse(raw) as PendingRestart).id)
    if (outcome === 'claimed') started++
    if (outcome === 'wait') waiting++
  }
  return { started, waiting }
}

async function execute(ctx: Context, p: PendingRestart, runningJson: string): Promise<RestartHistoryEntry> {
  const runningKey = ctx.keys.restartRunning(p.appName)
  const slots = ctx.keys.restartSlots(p.environment)
  const renew = setInterval(() => {
    void ctx.store
      .pipeline([
        ['PEXPIRE', runningKey, RUNNING_TTL_MS],
        ['ZADD', slots, 'XX', ctx.clock.now() + RUNNING_TTL_MS, p.id],
      ])
      .catch(() => undefined)
  }, RENEW_MS)
  const startedAt = p.startedAt ?? ctx.clock.now()
  let backendName = 'unknown'
  let result: RestartAppResult
  // The environment's deploy lease: a restart never interleaves with a deploy or teardown of its environment.
  const token = `restart-${p.id}`
  let leased = false
  const renewLeaseTimer = setInterval(() => void (leased ? renewLease(ctx, p.environment, token).catch(() => undefined) : undefined), 10_000)
  try {
    const until = Date.now() + LEASE_WAIT_MS
    while (!(leased = (await acquireLease(ctx, p.environment, token)).ok)) {
      if (Date.now() > until) throw new Error(`environment "${p.environment}" stayed locked by a deployment for ${LEASE_WAIT_MS / 1000} s`)
      await new Promise((r) => setTimeout(r, 500))
    }
    const t = await resolveTarget(ctx, p.appName, p.environment)
    backendName = t.backend.name
    if (!t.backend.restartApp) result = { ok: false, replaced: [], kept: t.instances.map((u) => u.name), error: `the ${t.backend.name} backend cannot restart apps` }
    else {
      const timeoutMs = ctx.config.restarts.healthTimeoutSeconds * 1000
      result = await t.backend.restartApp(t.environment, t.app, {
        strategy: p.priority,
        graceSeconds: p.shutdownGracePeriod,
        maxParallel: p.maxParallel,
        env: p.env,
        restartId: p.id,
        waitHealthy: (inst, signal) => waitForHealthyHeartbeat(ctx, inst, Date.now() + timeoutMs, signal),
        onProgress: (m) => ctx.log.info(m, { restartId: p.id, appName: p.appName }),
      })
    }
  } catch (e) {
    result = { ok: false, replaced: [], kept: [], error: errorMessage(e) }
  } finally {
    clearInterval(renew)
    clearInterval(renewLeaseTimer)
    if (leased) await releaseLease(ctx, p.environment, token).catch(() => undefined)
  }
  const entry = await record(ctx, p, startedAt, backendName, result)
  await ctx.store.runScript(compareAndDelete, [runningKey], [runningJson])
  return entry
}

/** The outcome into the app's capped history, its slot freed and restart.completed emitted, in one transaction. */
async function record(ctx: Context, p: PendingRestart, startedAt: number, backendName: string, result: RestartAppResult): Promise<RestartHistoryEntry> {
  const finishedAt = ctx.clock.now()
  const entry: RestartHistoryEntry = {
    id: p.id,
    appName: p.appName,
    environment: p.environment,
    requestedAt: new Date(p.requestedAt).toISOString(),
    startedAt: new Date(startedAt).toISOString(),
    finishedAt: new Date(finishedAt).toISOString(),
    durationMs: finishedAt - startedAt,
    reasons: p.reasons,
    requestedBy: p.requestedBy,
    requests: p.requests,
    strategy: p.priority,
    backend: backendName,
    result: result.ok ? 'succeeded' : 'failed',
    ...(result.error ? { error: result.error } : {}),
    replaced: result.replaced,
    kept: result.kept,
  }
  await emit(ctx, [lifecycle('restart.completed', p.environment, { ...entry })], [
    ['LPUSH', ctx.keys.restarts(p.appName), JSON.stringify(entry)],
    ['LTRIM', ctx.keys.restarts(p.appName), 0, HISTORY_KEPT - 1],
    ['ZREM', ctx.keys.restartSlots(p.environment), p.id],
  ])
  return entry
}

export async function readHistory(ctx: Context, appName: string, limit = HISTORY_KEPT): Promise<RestartHistoryEntry[]> {
  return asArray(await ctx.store.call(['LRANGE', ctx.keys.restarts(appName), 0, limit - 1])).map((r) => JSON.parse(String(r)) as RestartHistoryEntry)
}
