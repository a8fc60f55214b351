import type { RestartAppResult } from '../backends/types.ts'
import type { Context } from '../context.ts'
import { emit } from '../events/outbox.ts'
import { stamp, type LifecycleEvent, type OutboundEvent } from '../events/schemas.ts'
import { acquireLease, releaseLease, renewLease } from '../environments/records.ts'
import { compareAndDelete } from '../store/scripts.ts'
import { asArray, asString } from '../store/ops.ts'
import { waitForHealthyHeartbeat } from './health-wait.ts'
import { claimRestart } from './scripts.ts'
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
  const now = ctx.clock.now()
  const env = await pendingEnvironment(ctx, appName)
  if (env === null) return 'gone'
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

async function pendingEnvironment(ctx: Context, appName: string): Promise<string | null> {
  const raw = asString(await ctx.store.call(['GET', ctx.keys.restartPending(appName)]))
  return raw ? (JSON.parse(raw) as PendingRestart).environment : null
}

/** Scheduler entry: every pending request whose window has passed (a crashed process left it behind). */
export async function runDueRestarts(ctx: Context): Promise<{ started: number; waiting: number }> {
  const due = asArray(await ctx.store.call(['ZRANGEBYSCORE', ctx.keys.restartQueue, '-inf', ctx.clock.now(), 'LIMIT', 0, 100])).map(String)
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
    result = { ok: false, replaced: [], kept: [], error: e instanceof Error ? e.message : String(e) }
  } finally {
    clearInterval(renew)
    clearInterval(renewLeaseTimer)
    if (leased) await releaseLease(ctx, p.environment, token).catch(() => undefined)
  }
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
    ['ZREM', slots, p.id],
  ])
  await ctx.store.runScript(compareAndDelete, [runningKey], [runningJson])
  return entry
}

export async function readHistory(ctx: Context, appName: string, limit = HISTORY_KEPT): Promise<RestartHistoryEntry[]> {
  return asArray(await ctx.store.call(['LRANGE', ctx.keys.restarts(appName), 0, limit - 1])).map((r) => JSON.parse(String(r)) as RestartHistoryEntry)
}
