import * as v from 'valibot'
import type { Context } from '../context.ts'
import { HEARTBEAT_STATUSES, ServiceHeartbeatEvent } from '../heartbeats/schema.ts'
import { OrchestratorError } from '../errors.ts'
import { requestRestart } from '../restarts/request-restart.ts'
import { requestRestarts, type RestartDecision, type RestartRequest } from '../restarts/requests.ts'
import { managedAppIds } from '../restarts/target.ts'
import { asArray, asString } from '../store/ops.ts'
import { fencedWrite, type Fence } from '../store/fenced.ts'
import type { Command, Reply, Script } from '../store/types.ts'
import { splitMember } from './instance-member.ts'
import { levelOf, type InstanceStatus, type ServiceStatus } from './service-health.ts'
import { restartVerdict } from './smart-restart.ts'

export interface DegradationOptions {
  batchSize?: number
  fence?: Fence
  signal?: AbortSignal
  /** Who the restart requests name as requester. */
  requestedBy?: string
}

export interface DegradationResult {
  instances: number
  healthy: number
  degraded: number
  unavailable: number
  /** Instances whose degraded-since mark was set / cleared in this run. */
  marked: number
  cleared: number
  /** Apps the smart-restart rules want restarted, and what the request path decided. */
  restartCandidates: number
  restartsAccepted: number
  restartsCoalesced: number
  /** Managed apps whose restart budget is spent (the request path answered 429). */
  restartsOverBudget: number
  /** Apps no deployment of ours runs: the decision is recorded, nothing can act on it. */
  restartsRecordedOnly: number
  decisions: { appName: string; reason: string; decision: RestartDecision['decision'] | 'scheduled' | 'queued' | 'running' | 'over-budget'; requestId: string | null }[]
}

/**
 * Reads one page of the heartbeat index inside Redis (ZRANGE by rank, the heartbeats, the
 * degraded-since marks) and ships back only what the JS side must look at:
 *  - the number of members read;
 *  - per service, the count of instances that are healthy and carry no mark (the bulk of a
 *    healthy fleet: they need no write and no restart, only counting);
 *  - for every other member: member, status code, mark. The code is the heartbeat's status
 *    when the value passes the structural check, '' when the key is gone, '?' when the JS side
 *    must read and validate it in full (unparseable, odd shape, or a short-form member whose
 *    service is only in the body); the mark is '' when none.
 * Shipping a few hundred short strings per 5,000 instances instead of a 250-byte JSON each is
 * what keeps a 100k check well inside a second.
 * KEYS: heartbeat index, degraded-since hash. ARGV: heartbeat key base (with prefix), start, stop.
 */
export const instanceScan: Script = {
  name: 'instance-scan',
  lua: `
local statuses = { healthy = true, degraded = true, overloaded = true, shutting_down = true }
local members = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3])
if #members == 0 then return { 0, {}, {} } end
local marks = redis.call('HMGET', KEYS[2], unpack(members))
local tally, order, notable = {}, {}, {}
for i, m in ipairs(members) do
  local raw = redis.call('GET', ARGV[1] .. m)
  local colon = string.find(m, ':', 1, true)
  local code = '?'
  if not raw then
    code = ''
  elseif colon then
    local ok, hb = pcall(cjson.decode, raw)
    if ok and type(hb) == 'table' and type(hb.status) == 'string' and statuses[hb.status] and type(hb.appId) == 'string'
      and type(hb.serviceId) == 'string' and type(hb.timestamp) == 'string' and type(hb.eventId) == 'string' then
      code = hb.status
    end
  end
  local mark = marks[i]
  if code == 'healthy' and not mark and colon and colon > 1 then
    local svc = string.sub(m, 1, colon - 1)
    local n = tally[svc]
    if n then tally[svc] = n + 1 else tally[svc] = 1 order[#order + 1] = svc end
  else
    notable[#notable + 1] = m
    notable[#notable + 1] = code
    notable[#notable + 1] = mark or ''
  end
end
local counts = {}
for _, svc in ipairs(order) do
  counts[#counts + 1] = svc
  counts[#counts + 1] = tally[svc]
end
return { #members, counts, notable }`,
  local: (run, [index, marksKey], [base, start, stop]) => {
    const members = (run(['ZRANGE', index!, start!, stop!]) as Reply[]).map(String)
    if (members.length === 0) return [0, [], []]
    const marks = run(['HMGET', marksKey!, ...members]) as Reply[]
    const tally = new Map<string, number>()
    const notable: Reply[] = []
    members.forEach((m, i) => {
      const raw = run(['GET', `${base}${m}`])
      const colon = m.indexOf(':')
      let code = '?'
      if (raw === null) code = ''
      else if (colon >= 0) code = quickStatus(String(raw)) ?? '?'
      const mark = marks[i] ?? null
      if (code === 'healthy' && mark === null && colon > 0) {
        const svc = m.slice(0, colon)
        tally.set(svc, (tally.get(svc) ?? 0) + 1)
      } else notable.push(m, code, mark ?? '')
    })
    return [members.length, [...tally].flat(), notable]
  },
}

/** Pages of the index read ahead while the current one is processed (Redis and JS overlap). */
const READ_AHEAD = 3

const MGET_CHUNK = 1000
const STATUSES = new Set<string>(HEARTBEAT_STATUSES)
/** Decisions listed in the result (the counts cover all of them). */
const DECISIONS_SHOWN = 20

/** The structural check alone: the status when the value looks like a heartbeat, else null. */
function quickStatus(raw: string): InstanceStatus | null {
  try {
    const b = JSON.parse(raw) as Record<string, unknown> | null
    return b && typeof b === 'object' && typeof b.status === 'string' && STATUSES.has(b.status) && typeof b.appId === 'string' && typeof b.serviceId === 'string' && typeof b.timestamp === 'string' && typeof b.eventId === 'string'
      ? (b.status as InstanceStatus)
      : null
  } catch {
    return null
  }
}

/**
 * Status of one heartbeat value. A fast structural check covers the common case; anything that
 * fails it gets the full schema validation (as in the health report), which can only turn the
 * status into 'invalid'. Full validation of every value costs ~5 µs each, too much at 100k.
 */
function statusOf(raw: string | null): { status: InstanceStatus; appId: string | null; serviceId: string | null } {
  if (raw === null) return { status: 'unavailable', appId: null, serviceId: null }
  let body: unknown
  try {
    body = JSON.parse(raw)
  } catch {
    return { status: 'invalid', appId: null, serviceId: null }
  }
  const b = body as Record<string, unknown> | null
  if (b && typeof b === 'object' && typeof b.status === 'string' && STATUSES.has(b.status) && typeof b.appId === 'string' && typeof b.serviceId === 'string' && typeof b.timestamp === 'string' && typeof b.eventId === 'string') {
    return { status: b.status as InstanceStatus, appId: b.appId, serviceId: b.serviceId }
  }
  const full = v.safeParse(ServiceHeartbeatEvent, body)
  return full.success ? { status: full.output.status, appId: full.output.appId, serviceId: full.output.serviceId } : { status: 'invalid', appId: null, serviceId: null }
}

/**
 * The degradation check: reads every indexed instance in bounded pages (one
 * script per page that reads the heartbeats and marks inside Redis, see instanceScan), keeps a degraded-since mark per
 * instance (set when first seen not healthy, cleared when healthy), keeps the per-service
 * mark that should-restart reads consistent (earliest instance mark of a non-healthy service),
 * and asks for a restart of every app the smart-restart rules condemn — through the same
 * request path as the request-restart endpoint, which coalesces repeats.
 */
export async function checkDegradation(ctx: Context, opts: DegradationOptions = {}): Promise<DegradationResult> {
  const { store, keys } = ctx
  // Lua's unpack() takes at most ~8000 values, which bounds the members per script call; the
  // largest page under that needs the fewest script calls (7,000: ~30 ms of Redis each).
  const batch = Math.min(opts.batchSize ?? 7000, 7000)
  const now = ctx.clock.now()
  const threshold = ctx.config.degradationThresholdMinutes
  const result: DegradationResult = { instances: 0, healthy: 0, degraded: 0, unavailable: 0, marked: 0, cleared: 0, restartCandidates: 0, restartsAccepted: 0, restartsCoalesced: 0, restartsOverBudget: 0, restartsRecordedOnly: 0, decisions: [] }
  const services = new Map<string, { total: number; healthy: number; unavailable: number; since: number | null }>()
  const restarts = new Map<string, RestartRequest>()
  let managed: Promise<Set<string>> | undefined

  // Rank-based pages, a few in flight at once: a heartbeat arriving mid-run can move a member
  // and make it be seen twice or not at all in this run; both are harmless (idempotent marks;
  // the next run sees it).
  const svcOf = (serviceId: string) => {
    let svc = services.get(serviceId)
    if (!svc) services.set(serviceId, (svc = { total: 0, healthy: 0, unavailable: 0, since: null }))
    return svc
  }
  const base = keys.heartbeatFromMember('')
  const inflight: Promise<Reply>[] = []
  const markWrites: Promise<void>[] = []
  let next = 0
  let ended = false
  const readAhead = () => {
    while (!ended && inflight.length < READ_AHEAD) {
      const p = store.runScript(instanceScan, [keys.heartbeatIndex, keys.instanceDegradedSince], [base, next, next + batch - 1])
      p.catch(() => {}) // awaited below; a page read after an abort must not go unhandled
      inflight.push(p)
      next += batch
    }
  }
  try {
    readAhead()
    while (inflight.length) {
      opts.signal?.throwIfAborted()
      const [countReply, tallyReply, notableReply] = asArray(await inflight.shift()!)
      const count = Number(countReply)
      if (count < batch) ended = true
      readAhead()
      result.instances += count

      const tally = asArray(tallyReply ?? [])
      for (let i = 0; i < tally.length; i += 2) {
        const n = Number(tally[i + 1])
        const svc = svcOf(String(tally[i]))
        svc.total += n
        svc.healthy += n
        result.healthy += n
      }

      const notable = asArray(notableReply ?? [])
      const members: string[] = []
      const codes: string[] = []
      const marks: (number | null)[] = []
      for (let i = 0; i < notable.length; i += 3) {
        members.push(String(notable[i]))
        codes.push(String(notable[i + 1] ?? '?'))
        marks.push(notable[i + 2] === '' || notable[i + 2] == null ? null : Number(notable[i + 2]))
      }
      // The few values the script could not judge: read and validate them in full here.
      const unclear = members.filter((_, i) => codes[i] === '?')
      const unclearValues = new Map<string, string | null>()
      for (let i = 0; i < unclear.length; i += MGET_CHUNK) {
        const chunk = unclear.slice(i, i + MGET_CHUNK)
        asArray(await store.call(['MGET', ...chunk.map(keys.heartbeatFromMember)])).forEach((v, j) => unclearValues.set(chunk[j]!, asString(v)))
      }

      const writes: Command[] = []
      members.forEach((member, i) => {
        const code = codes[i]!
        const parsed = code === '?' ? statusOf(unclearValues.get(member) ?? null) : code === '' ? statusOf(null) : { status: code as InstanceStatus, appId: null, serviceId: null }
        const fromMember = splitMember(member)
        const serviceId = fromMember.serviceId ?? parsed.serviceId ?? 'unknown'
        const appId = parsed.appId ?? fromMember.appId
        const level: ServiceStatus = levelOf(parsed.status)
        let since = marks[i] ?? null
        result[level]++
        if (level === 'healthy') {
          if (since !== null) (writes.push(['HDEL', keys.instanceDegradedSince, member]), result.cleared++)
          since = null
        } else if (since === null) {
          writes.push(['HSETNX', keys.instanceDegradedSince, member, now])
          result.marked++
          since = now
        }
        const svc = svcOf(serviceId)
        svc.total++
        if (level === 'healthy') svc.healthy++
        if (level === 'unavailable') svc.unavailable++
        if (since !== null) svc.since = svc.since === null ? since : Math.min(svc.since, since)

        if (level === 'healthy') return
        const verdict = restartVerdict(level, since === null ? null : Math.round((now - since) / 1000), threshold)
        if (!verdict.shouldRestart) return
        const reason = level === 'unavailable' ? 'auto:unavailable' : 'auto:degraded'
        const existing = restarts.get(appId)
        if (existing && existing.reason === 'auto:unavailable') return
        // Which apps a deployment of ours runs: asked once per run, at the first candidate, so
        // the backend's answer (or its probe timeout) overlaps the rest of the scan.
        managed ??= managedAppIds(ctx)
        restarts.set(appId, {
          appName: appId,
          serviceName: serviceId,
          reason,
          priority: level === 'unavailable' ? 'immediate' : 'graceful',
          requestedBy: opts.requestedBy ?? 'scheduler:degradation-check',
          detail: `${member}: ${verdict.reason}`,
        })
      })
      // Sent now, awaited after the scan: the next pages are already being read.
      if (writes.length) {
        const w = writeMarks(ctx, writes, opts.fence)
        w.catch(() => {}) // rethrown by the Promise.all below
        markWrites.push(w)
      }
    }
  } finally {
    await Promise.allSettled([...inflight, ...markWrites])
  }
  await Promise.all(markWrites)

  // Per-service marks (should-restart reads them): earliest instance mark while not healthy.
  const names = [...services.keys()]
  if (names.length) {
    const current = asArray(await store.call(['HMGET', keys.degradedSince, ...names])).map((x) => (asString(x) === null ? null : Number(x)))
    const writes: Command[] = []
    names.forEach((name, i) => {
      const s = services.get(name)!
      const mark = current[i] ?? null
      if (s.healthy === s.total) {
        if (mark !== null) writes.push(['HDEL', keys.degradedSince, name])
      } else if (s.since !== null && (mark === null || s.since < mark)) {
        writes.push(['HSET', keys.degradedSince, name, s.since])
      }
    })
    if (writes.length) await writeMarks(ctx, writes, opts.fence)
  }

  result.restartCandidates = restarts.size
  if (restarts.size) await requestCandidateRestarts(ctx, [...restarts.values()], await (managed ?? managedAppIds(ctx)), result, opts.fence)
  return result
}

/**
 * Apps a deployment of ours runs go through the same path as POST …/request-restart
 * (coalescing, budgets, execution on the backend); for the rest the decision is only recorded,
 * in one batched script, since no backend can act on them.
 */
async function requestCandidateRestarts(ctx: Context, requests: RestartRequest[], managed: Set<string>, result: DegradationResult, fence: Fence | undefined) {
  const recordOnly: RestartRequest[] = []
  const show = (d: DegradationResult['decisions'][number]) => {
    if (result.decisions.length < DECISIONS_SHOWN) result.decisions.push(d)
  }
  for (const r of requests) {
    if (!managed.has(r.appName)) {
      recordOnly.push(r)
      continue
    }
    try {
      const a = await requestRestart(ctx, { appName: r.appName, reason: r.reason, priority: r.priority ?? 'graceful', requestedBy: r.requestedBy })
      if (a.status === 'scheduled' || a.status === 'queued') result.restartsAccepted++
      else result.restartsCoalesced++
      show({ appName: a.appName, reason: r.reason, decision: a.status, requestId: a.restartId })
    } catch (e) {
      if (!(e instanceof OrchestratorError)) throw e
      if (e.status === 429) {
        result.restartsOverBudget++
        show({ appName: r.appName, reason: r.reason, decision: 'over-budget', requestId: null })
      } else recordOnly.push({ ...r, detail: `${r.detail ?? ''} (${e.detail})`.trim() })
    }
  }
  if (recordOnly.length === 0) return
  result.restartsRecordedOnly += recordOnly.length
  const decisions = await requestRestarts(ctx, recordOnly, { fence })
  decisions.forEach((d, i) => {
    if (d.decision === 'accepted') result.restartsAccepted++
    else result.restartsCoalesced++
    if (d.decision === 'accepted') show({ appName: d.appName, reason: recordOnly[i]!.reason, decision: d.decision, requestId: d.requestId })
  })
}

async function writeMarks(ctx: Pick<Context, 'store'>, writes: Command[], fence: Fence | undefined) {
  if (fence) await fencedWrite(ctx.store, fence, writes)
  else await ctx.store.pipeline(writes)
}
