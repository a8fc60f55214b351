import * as v from 'valibot'
import type { Context } from '../context.ts'
import { outboxCommands } from '../events/outbox.ts'
import { stamp } from '../events/schemas.ts'
import { asArray, asHash, asString, parseJson } from '../store/ops.ts'
import { applyGuarded } from '../store/fenced.ts'
import type { GuardedChange } from '../store/scripts.ts'
import type { Reply, Script } from '../store/types.ts'

/**
 * The entry point of every restart request: the request-restart endpoint (plugins), the
 * degradation check (auto:degraded / auto:unavailable) and operators all come through here.
 *
 * What it does today: records ONE pending request per app in Redis (keys.restartsPending),
 * coalesces any further request for that app while one is pending or within the coalescing
 * window after one was accepted, appends every accepted decision to the app's capped history
 * (keys.restarts(appName)) and emits `restart.requested` through the outbox — all in one atomic
 * script, so concurrent callers (several schedulers, the endpoint) never create two requests.
 * What it does not do yet: execute. The restart issue adds budgets here and an executor that
 * takes pending requests and restarts them through a backend; until then requests stay pending
 * and the history says so ("status": "pending", "executor": null).
 */

export const RESTART_PRIORITIES = ['graceful', 'immediate', 'force'] as const
export type RestartPriority = (typeof RESTART_PRIORITIES)[number]

export const HISTORY_LIMIT = 100
const PROBE_CHUNK = 1000

/**
 * For each (app, window key): whether a request is pending (1/0) and the window's request id
 * ('' when none). One script per thousand apps instead of two commands per app.
 */
const probeRestarts: Script = {
  name: 'probe-restarts',
  lua: `
local out = {}
for i = 1, #ARGV, 2 do
  out[#out + 1] = redis.call('HEXISTS', KEYS[1], ARGV[i])
  out[#out + 1] = redis.call('GET', ARGV[i + 1]) or ''
end
return out`,
  local: (run, [pending], args) => {
    const out: Reply[] = []
    for (let i = 0; i < args.length; i += 2) out.push(run(['HEXISTS', pending!, args[i]!]), run(['GET', args[i + 1]!]) ?? '')
    return out
  },
}

export const RestartRecord = v.object({
  requestId: v.string(),
  appName: v.string(),
  serviceName: v.optional(v.string()),
  reason: v.string(),
  priority: v.picklist(RESTART_PRIORITIES),
  requestedBy: v.string(),
  requestedAt: v.string(),
  decision: v.literal('accepted'),
  status: v.picklist(['pending', 'running', 'completed', 'failed']),
  executor: v.nullable(v.string()),
  detail: v.optional(v.string()),
})
export type RestartRecord = v.InferOutput<typeof RestartRecord>

export interface RestartRequest {
  appName: string
  /** The service that asked or that is unhealthy (informational; the app is what restarts). */
  serviceName?: string
  reason: string
  priority?: RestartPriority
  requestedBy: string
  detail?: string
}

export type RestartDecision =
  | { decision: 'accepted'; appName: string; requestId: string; record: RestartRecord }
  | { decision: 'coalesced'; appName: string; requestId: string | null; into: 'pending' | 'window' }

/** Several requests at once, one script call per few hundred; the same app twice in a batch coalesces. */
export async function requestRestarts(ctx: Pick<Context, 'store' | 'keys' | 'clock' | 'config'>, requests: readonly RestartRequest[]): Promise<RestartDecision[]> {
  const { keys } = ctx
  const now = ctx.clock.now()
  const windowMs = Math.max(1, ctx.config.restarts.coalesceWindowSeconds * 1000)
  const records = requests.map(
    (r): RestartRecord => ({
      requestId: crypto.randomUUID(),
      appName: r.appName,
      ...(r.serviceName ? { serviceName: r.serviceName } : {}),
      reason: r.reason,
      priority: r.priority ?? 'graceful',
      requestedBy: r.requestedBy,
      requestedAt: new Date(now).toISOString(),
      decision: 'accepted',
      status: 'pending',
      executor: null,
      ...(r.detail ? { detail: r.detail } : {}),
    }),
  )
  // Cheap read first, so that a tick re-requesting thousands of already-pending apps sends no script.
  const probe: Reply[] = []
  for (let i = 0; i < records.length; i += PROBE_CHUNK) {
    const chunk = records.slice(i, i + PROBE_CHUNK)
    probe.push(...asArray(await ctx.store.runScript(probeRestarts, [keys.restartsPending], chunk.flatMap((rec) => [rec.appName, keys.restartWindow(rec.appName)]))).map((x) => (x === '' ? null : x)))
  }
  const seen = new Set<string>()
  const free = records.map((rec, i) => {
    const ok = probe[i * 2] === 0 && probe[i * 2 + 1] === null && !seen.has(rec.appName)
    seen.add(rec.appName)
    return ok
  })
  const toChange = (rec: RestartRecord): GuardedChange => {
    const json = JSON.stringify(rec)
    const event = stamp(
      {
        type: 'restart.requested' as const,
        source: 'orchestrator' as const,
        data: { requestId: rec.requestId, appName: rec.appName, serviceName: rec.serviceName ?? null, reason: rec.reason, priority: rec.priority, requestedBy: rec.requestedBy },
      },
      now,
    )
    return {
      guards: [
        { cmd: ['HEXISTS', keys.restartsPending, rec.appName], expected: 0 },
        { cmd: ['EXISTS', keys.restartWindow(rec.appName)], expected: 0 },
      ],
      then: [
        ['HSET', keys.restartsPending, rec.appName, json],
        ['SET', keys.restartWindow(rec.appName), rec.requestId, 'PX', String(windowMs)],
        ['LPUSH', keys.restarts(rec.appName), json],
        ['LTRIM', keys.restarts(rec.appName), '0', String(HISTORY_LIMIT - 1)],
        ...outboxCommands(keys, [{ kind: 'lifecycle', event }]).map((c) => c.map(String)),
      ],
    }
  }
  const freeRecords = records.filter((_, i) => free[i])
  const freeApplied = await applyGuarded(ctx.store, freeRecords.map(toChange))
  const applied = records.map(() => 0)
  let k = 0
  records.forEach((_, i) => {
    if (free[i]) applied[i] = freeApplied[k++] ?? 0
  })
  // Name what each coalesced request merged into: the window key holds the last accepted id;
  // only when it has expired (or we lost a race) is the pending record read.
  const unknown = records.map((rec, i) => (applied[i] !== 1 && asString(probe[i * 2 + 1] ?? null) === null ? rec.appName : null))
  const lookups = [...new Set(unknown.filter((a): a is string => a !== null))]
  const found = new Map<string, string | null>()
  if (lookups.length) {
    const replies = await ctx.store.pipeline(lookups.flatMap((a) => [['HGET', keys.restartsPending, a] as const, ['GET', keys.restartWindow(a)] as const]))
    lookups.forEach((a, i) => {
      const pending = parseJson(asString(replies[i * 2]!))
      const id = pending.ok && typeof pending.value === 'object' && pending.value !== null ? (pending.value as { requestId?: unknown }).requestId : undefined
      found.set(a, typeof id === 'string' ? id : asString(replies[i * 2 + 1]!))
    })
  }
  return records.map((rec, i): RestartDecision => {
    if (applied[i] === 1) return { decision: 'accepted', appName: rec.appName, requestId: rec.requestId, record: rec }
    const into = probe[i * 2] === 0 && asString(probe[i * 2 + 1] ?? null) !== null ? 'window' : 'pending'
    const requestId = asString(probe[i * 2 + 1] ?? null) ?? found.get(rec.appName) ?? null
    return { decision: 'coalesced', appName: rec.appName, requestId, into }
  })
}

export async function requestRestart(ctx: Pick<Context, 'store' | 'keys' | 'clock' | 'config'>, request: RestartRequest): Promise<RestartDecision> {
  return (await requestRestarts(ctx, [request]))[0]!
}

/** Pending requests, oldest first: what the restart executor (restart issue) consumes. */
export async function pendingRestarts(ctx: Pick<Context, 'store' | 'keys'>): Promise<RestartRecord[]> {
  const all = Object.values(asHash(await ctx.store.call(['HGETALL', ctx.keys.restartsPending])))
  return all
    .map((json) => parseJson(json))
    .flatMap((p) => {
      const r = p.ok ? v.safeParse(RestartRecord, p.value) : undefined
      return r?.success ? [r.output] : []
    })
    .sort((a, b) => a.requestedAt.localeCompare(b.requestedAt))
}

/** The app's decisions, newest first (capped at HISTORY_LIMIT). */
export async function restartHistory(ctx: Pick<Context, 'store' | 'keys'>, appName: string, limit = HISTORY_LIMIT): Promise<RestartRecord[]> {
  const raw = asArray(await ctx.store.call(['LRANGE', ctx.keys.restarts(appName), 0, limit - 1]))
  return raw.flatMap((x) => {
    const p = parseJson(asString(x))
    const r = p.ok ? v.safeParse(RestartRecord, p.value) : undefined
    return r?.success ? [r.output] : []
  })
}
