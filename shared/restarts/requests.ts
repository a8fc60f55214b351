import * as v from 'valibot'
import type { Context } from '../context.ts'
import { outboxFields } from '../events/outbox.ts'
import { stamp } from '../events/schemas.ts'
import { asArray, asHash, asString, parseJson } from '../store/ops.ts'
import { runFencedBatch, type Fence } from '../store/fenced.ts'
import { fencedItemsWithOutbox } from '../store/scripts.ts'
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

const RECORD_ARGS = 11

/**
 * Records accepted decisions, each guarded by the same two checks the probe made (no pending
 * request for the app, no coalescing window open), so that of concurrent callers exactly one
 * wins per app: HSET pending, SET window PX, LPUSH history (LTRIM only once it is over the cap), XADD restart.requested to
 * the outbox. The whole call is refused (-1) when a fence is given and a newer one exists.
 * A dedicated script rather than guarded-apply: 11 arguments per decision instead of ~50.
 * KEYS: pending hash, outbox stream, [fence counter]. ARGV: fence, window ms, last history
 * index, then per decision: app, window key, history key, request id, record JSON, and the
 * outbox fields kind, exchange, routingKey, eventId, emittedAt, payload.
 * Replies one 1/0 per decision (recorded or coalesced).
 */
export const recordRestarts: Script = fencedItemsWithOutbox({
  name: 'record-restarts',
  head: 2,
  stride: RECORD_ARGS,
  lua: `  local app, window, history, json = ARGV[i], ARGV[i + 1], ARGV[i + 2], ARGV[i + 4]
  if redis.call('HEXISTS', KEYS[1], app) == 0 and redis.call('EXISTS', window) == 0 then
    redis.call('HSET', KEYS[1], app, json)
    redis.call('SET', window, ARGV[i + 3], 'PX', ARGV[2])
    if redis.call('LPUSH', history, json) > tonumber(ARGV[3]) + 1 then redis.call('LTRIM', history, 0, ARGV[3]) end
    ok = true
  end`,
  local: (run, [pending], [windowMs, last], [app, window, history, requestId, json]) => {
    if (run(['HEXISTS', pending!, app!]) !== 0 || run(['EXISTS', window!]) !== 0) return false
    run(['HSET', pending!, app!, json!])
    run(['SET', window!, requestId!, 'PX', windowMs!])
    if (Number(run(['LPUSH', history!, json!])) > Number(last) + 1) run(['LTRIM', history!, 0, last!])
    return true
  },
})

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

/**
 * Several requests at once, a few script calls per thousand; the same app twice in a batch
 * coalesces. With a fence (the scheduler's), a stale leader's requests are refused
 * (FencedOutError) and nothing of the refused chunk is written.
 */
export async function requestRestarts(ctx: Pick<Context, 'store' | 'keys' | 'clock' | 'config'>, requests: readonly RestartRequest[], opts: { fence?: Fence } = {}): Promise<RestartDecision[]> {
  const { keys } = ctx
  const now = ctx.clock.now()
  const requestedAt = new Date(now).toISOString()
  const windowMs = Math.max(1, ctx.config.restarts.coalesceWindowSeconds * 1000)
  // A record (and its id) only for requests that can be accepted: a steady tick that
  // re-requests thousands of pending apps builds none.
  const toRecord = (r: RestartRequest): RestartRecord => ({
    requestId: crypto.randomUUID(),
    appName: r.appName,
    ...(r.serviceName ? { serviceName: r.serviceName } : {}),
    reason: r.reason,
    priority: r.priority ?? 'graceful',
    requestedBy: r.requestedBy,
    requestedAt,
    decision: 'accepted',
    status: 'pending',
    executor: null,
    ...(r.detail ? { detail: r.detail } : {}),
  })
  // Cheap read first (all chunks sent at once), so that a tick re-requesting thousands of
  // already-pending apps sends no write.
  const probes: Promise<Reply>[] = []
  for (let i = 0; i < requests.length; i += PROBE_CHUNK) {
    probes.push(ctx.store.runScript(probeRestarts, [keys.restartsPending], requests.slice(i, i + PROBE_CHUNK).flatMap((r) => [r.appName, keys.restartWindow(r.appName)])))
  }
  const probe = (await Promise.all(probes)).flatMap((reply) => asArray(reply).map((x) => (x === '' ? null : x)))
  const seen = new Set<string>()
  const records = requests.map((r, i) => {
    const free = probe[i * 2] === 0 && probe[i * 2 + 1] === null && !seen.has(r.appName)
    seen.add(r.appName)
    return free ? toRecord(r) : null
  })
  const freeRecords = records.filter((rec): rec is RestartRecord => rec !== null)
  const freeApplied = await recordDecisions(ctx, freeRecords, windowMs, now, opts.fence)
  const applied = records.map(() => 0)
  let k = 0
  records.forEach((rec, i) => {
    if (rec) applied[i] = freeApplied[k++] ?? 0
  })
  // Name what each coalesced request merged into: the window key holds the last accepted id;
  // only when it has expired (or we lost a race) is the pending record read.
  const unknown = requests.map((r, i) => (applied[i] !== 1 && asString(probe[i * 2 + 1] ?? null) === null ? r.appName : null))
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
  return requests.map((r, i): RestartDecision => {
    const rec = records[i]
    if (rec && applied[i] === 1) return { decision: 'accepted', appName: rec.appName, requestId: rec.requestId, record: rec }
    const into = probe[i * 2] === 0 && asString(probe[i * 2 + 1] ?? null) !== null ? 'window' : 'pending'
    const requestId = asString(probe[i * 2 + 1] ?? null) ?? found.get(r.appName) ?? null
    return { decision: 'coalesced', appName: r.appName, requestId, into }
  })
}

/** Runs recordRestarts over the records in chunks, a few in flight; 1/0 per record. */
async function recordDecisions(ctx: Pick<Context, 'store' | 'keys'>, records: readonly RestartRecord[], windowMs: number, now: number, fence: Fence | undefined): Promise<number[]> {
  const { keys } = ctx
  const emittedAt = Date.now()
  return runFencedBatch(ctx.store, recordRestarts, {
    keys: [keys.restartsPending, keys.outbox],
    fence,
    head: [String(windowMs), String(HISTORY_LIMIT - 1)],
    count: records.length,
    encode: (i, args) => {
      const rec = records[i]!
      const event = stamp(
        {
          type: 'restart.requested' as const,
          source: 'orchestrator' as const,
          data: { requestId: rec.requestId, appName: rec.appName, serviceName: rec.serviceName ?? null, reason: rec.reason, priority: rec.priority, requestedBy: rec.requestedBy },
        },
        now,
      )
      const f = outboxFields({ kind: 'lifecycle', event }, undefined, emittedAt)
      args.push(rec.appName, keys.restartWindow(rec.appName), keys.restarts(rec.appName), rec.requestId, JSON.stringify(rec), f[1], f[3], f[5], f[7], f[9], f[11])
    },
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
