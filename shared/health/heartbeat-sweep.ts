import { outboxFields } from '../events/outbox.ts'
import { stamp } from '../events/schemas.ts'
import type { Keys } from '../store/keys.ts'
import { asArray, parseJson } from '../store/ops.ts'
import { applyGuarded, runFencedBatch, type Fence } from '../store/fenced.ts'
import { fencedItemsWithOutbox, type GuardedChange } from '../store/scripts.ts'
import type { Command, Reply, Script, Store } from '../store/types.ts'
import { splitMember } from './instance-member.ts'

export interface SweepReader {
  store: Store
  keys: Keys
  now: () => number
  heartbeatTimeoutSeconds: number
  /** Lost instances older than this leave the index (and the health report). */
  retentionSeconds: number
}

export interface SweepOptions {
  /** Index members read per round trip. */
  batchSize?: number
  /** Upper bound on prune batches per run, so one run stays short after a mass loss. */
  maxPruneBatches?: number
  fence?: Fence
  signal?: AbortSignal
}

export interface SweepResult {
  /** Index members older than the timeout (candidates). */
  stale: number
  /** Instances that went from alive to lost in this run (one instance.lost event each). */
  lost: number
  /** Lost instances whose heartbeat came back (one instance.recovered event each). */
  recovered: number
  /** Still lost (including earlier runs), after this run. */
  stillLost: number
  /** Stale index scores refreshed because the heartbeat key exists (written by a client that does not update the index). */
  refreshed: number
  pruned: number
}

/**
 * One page of stale index members (score ≤ cutoff), judged inside Redis so that a fleet whose
 * lost instances are already marked ships nothing back. Replies { members read, notable },
 * notable = member, score, 'v', value for a key that exists (the JS side refreshes its score),
 * or member, score, 'x', '' for a missing key not yet in the lost set (a loss to record).
 * KEYS: heartbeat index, lost set. ARGV: heartbeat key base, cutoff, offset, count.
 */
export const staleScan: Script = {
  name: 'stale-scan',
  lua: `
local page = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', ARGV[2], 'WITHSCORES', 'LIMIT', ARGV[3], ARGV[4])
local out = {}
for i = 1, #page, 2 do
  local m = page[i]
  local raw = redis.call('GET', ARGV[1] .. m)
  if raw then
    out[#out + 1] = m out[#out + 1] = page[i + 1] out[#out + 1] = 'v' out[#out + 1] = raw
  elseif not redis.call('ZSCORE', KEYS[2], m) then
    out[#out + 1] = m out[#out + 1] = page[i + 1] out[#out + 1] = 'x' out[#out + 1] = ''
  end
end
return { #page / 2, out }`,
  local: (run, [index, lost], [base, cutoff, offset, count]) => {
    const page = run(['ZRANGEBYSCORE', index!, '-inf', cutoff!, 'WITHSCORES', 'LIMIT', offset!, count!]) as Reply[]
    const out: Reply[] = []
    for (let i = 0; i < page.length; i += 2) {
      const m = String(page[i])
      const raw = run(['GET', `${base}${m}`])
      if (raw !== null) out.push(m, page[i + 1]!, 'v', raw)
      else if (run(['ZSCORE', lost!, m]) === null) out.push(m, page[i + 1]!, 'x', '')
    }
    return [page.length / 2, out]
  },
}

/**
 * One page of the lost set (by rank): replies { members read, [member, lost-at score] of those
 * whose heartbeat key exists again }. KEYS: lost set. ARGV: heartbeat key base, start, stop.
 */
export const recoveredScan: Script = {
  name: 'recovered-scan',
  lua: `
local page = redis.call('ZRANGE', KEYS[1], ARGV[2], ARGV[3], 'WITHSCORES')
local out = {}
for i = 1, #page, 2 do
  if redis.call('EXISTS', ARGV[1] .. page[i]) == 1 then
    out[#out + 1] = page[i] out[#out + 1] = page[i + 1]
  end
end
return { #page / 2, out }`,
  local: (run, [lost], [base, start, stop]) => {
    const page = run(['ZRANGE', lost!, start!, stop!, 'WITHSCORES']) as Reply[]
    const out: Reply[] = []
    for (let i = 0; i < page.length; i += 2) if (run(['EXISTS', `${base}${String(page[i])}`]) === 1) out.push(page[i]!, page[i + 1]!)
    return [page.length / 2, out]
  },
}

/**
 * Records lost / recovered transitions, each guarded so that across any number of sweepers
 * exactly one records it: lost = heartbeat key still missing and ZADD NX on the lost set
 * added the member; recovered = key exists again and ZREM removed it. Only then is the
 * lifecycle event appended to the outbox, in the same atomic step.
 * KEYS: lost set, outbox, [fence]. ARGV: fence, 'lost' | 'recovered', lost-at score, then per
 * transition: heartbeat key, member, and the outbox fields kind, exchange, routingKey,
 * eventId, emittedAt, payload. Replies -1 when fenced out, else one 1/0 per transition.
 */
export const recordTransitions: Script = fencedItemsWithOutbox({
  name: 'record-transitions',
  head: 2,
  stride: 8,
  lua: `  if ARGV[2] == 'lost' then
    ok = redis.call('EXISTS', ARGV[i]) == 0 and redis.call('ZADD', KEYS[1], 'NX', ARGV[3], ARGV[i + 1]) == 1
  else
    ok = redis.call('EXISTS', ARGV[i]) == 1 and redis.call('ZREM', KEYS[1], ARGV[i + 1]) == 1
  end`,
  local: (run, [lostSet], [mode, score], [hb, member]) =>
    mode === 'lost'
      ? run(['EXISTS', hb!]) === 0 && run(['ZADD', lostSet!, 'NX', score!, member!]) === 1
      : run(['EXISTS', hb!]) === 1 && run(['ZREM', lostSet!, member!]) === 1,
})

interface Transition {
  member: string
  data: Record<string, unknown>
}

async function recordAll(r: SweepReader, type: 'instance.lost' | 'instance.recovered', items: readonly Transition[], now: number, fence: Fence | undefined) {
  if (items.length === 0) return 0
  const emittedAt = Date.now()
  const base = r.keys.heartbeatFromMember('')
  const applied = await runFencedBatch(r.store, recordTransitions, {
    keys: [r.keys.instancesLost, r.keys.outbox],
    fence,
    head: [type === 'instance.lost' ? 'lost' : 'recovered', String(now)],
    count: items.length,
    encode: (i, args) => {
      const t = items[i]!
      const f = outboxFields({ kind: 'lifecycle', event: stamp({ type, source: 'orchestrator' as const, data: t.data }, now) }, undefined, emittedAt)
      args.push(base + t.member, t.member, f[1], f[3], f[5], f[7], f[9], f[11])
    },
  })
  return sum(applied)
}

/**
 * The heartbeat sweep. Reads only through the indexes (never SCAN), in bounded batches:
 *  1. stale index members (score older than the timeout), one script per batch (staleScan):
 *     a missing key whose member is not yet lost becomes lost;
 *  2. the lost set, one script per batch (recoveredScan): a key that exists again means the
 *     instance recovered;
 *  3. lost longer than the retention: removed from the indexes.
 * Transitions are guarded in Lua (key still missing/present, ZADD NX / ZREM on the lost set
 * replied 1), so across any number of processes each transition emits exactly one event,
 * written to the outbox in the same atomic step.
 */
export async function sweepHeartbeats(r: SweepReader, opts: SweepOptions = {}): Promise<SweepResult> {
  const { store, keys } = r
  const batch = opts.batchSize ?? 5000
  const now = r.now()
  const cutoff = now - r.heartbeatTimeoutSeconds * 1000
  const result: SweepResult = { stale: 0, lost: 0, recovered: 0, stillLost: 0, refreshed: 0, pruned: 0 }
  const check = () => opts.signal?.throwIfAborted()

  // 1. Stale members. Index scores change only in step "refresh" (after the loop), so offsets stay valid.
  const base = keys.heartbeatFromMember('')
  const lostAt = new Date(now).toISOString()
  const refresh: Command[] = []
  for (let offset = 0; ; offset += batch) {
    check()
    const [read, notable] = asArray(await store.runScript(staleScan, [keys.heartbeatIndex, keys.instancesLost], [base, cutoff, offset, batch]))
    const count = Number(read)
    if (count === 0) break
    result.stale += count
    const rows = asArray(notable ?? [])
    const lost: Transition[] = []
    for (let i = 0; i < rows.length; i += 4) {
      const member = String(rows[i])
      const score = Number(rows[i + 1])
      const { serviceId, appId } = splitMember(member)
      if (rows[i + 2] === 'v') {
        const body = parseJson(String(rows[i + 3]))
        const b = body.ok && typeof body.value === 'object' && body.value !== null ? (body.value as Record<string, unknown>) : {}
        const ts = typeof b.timestamp === 'string' ? Date.parse(b.timestamp) : NaN
        const fresh = Number.isNaN(ts) ? now : Math.min(ts, now)
        const svc = serviceId ?? (typeof b.serviceId === 'string' ? b.serviceId : null)
        if (fresh > score) {
          refresh.push(['ZADD', keys.heartbeatIndex, 'GT', fresh, member])
          if (svc) refresh.push(['ZADD', keys.serviceHeartbeatIndex(svc), 'GT', fresh, member])
        }
        continue
      }
      lost.push({ member, data: { serviceId, appId, instance: member, lastSeen: new Date(score).toISOString(), lostAt } })
    }
    result.lost += await recordAll(r, 'instance.lost', lost, now, opts.fence)
    if (count < batch) break
  }
  if (refresh.length) {
    await store.pipeline(refresh)
    result.refreshed = refresh.filter((c) => c[1] === keys.heartbeatIndex).length
  }

  // 2. Recoveries: any lost member whose key exists again (written through our index or not).
  const recovered: Transition[] = []
  for (let start = 0; ; start += batch) {
    check()
    const [read, back] = asArray(await store.runScript(recoveredScan, [keys.instancesLost], [base, start, start + batch - 1]))
    const rows = asArray(back ?? [])
    for (let i = 0; i < rows.length; i += 2) {
      const member = String(rows[i])
      const lostAt = Number(rows[i + 1])
      const { serviceId, appId } = splitMember(member)
      recovered.push({ member, data: { serviceId, appId, instance: member, lostAt: new Date(lostAt).toISOString(), recoveredAt: new Date(now).toISOString(), downSeconds: Math.round((now - lostAt) / 1000) } })
    }
    if (Number(read) < batch) break
  }
  result.recovered = await recordAll(r, 'instance.recovered', recovered, now, opts.fence)

  // 3. Prune members lost longer than the retention (bounded per run; the rest next run).
  const pruneBefore = now - r.retentionSeconds * 1000
  let services: string[] | undefined
  for (let i = 0, skipped = 0; i < (opts.maxPruneBatches ?? 10); i++) {
    check()
    const page = asArray(await store.call(['ZRANGEBYSCORE', keys.instancesLost, '-inf', `(${pruneBefore}`, 'LIMIT', skipped, batch])).map(String)
    if (page.length === 0) break
    if (!services && page.some((m) => splitMember(m).serviceId === null)) {
      services = asArray(await store.call(['SMEMBERS', keys.services])).map(String)
    }
    const changes = page.map((m): GuardedChange => {
      const { serviceId } = splitMember(m)
      const serviceIndexes = serviceId ? [keys.serviceHeartbeatIndex(serviceId)] : (services ?? []).map(keys.serviceHeartbeatIndex)
      return {
        guards: [{ cmd: ['EXISTS', keys.heartbeatFromMember(m)], expected: 0 }],
        then: [
          ['ZREM', keys.heartbeatIndex, m],
          ...serviceIndexes.map((k) => ['ZREM', k, m]),
          ['ZREM', keys.instancesLost, m],
          ['HDEL', keys.instanceDegradedSince, m],
        ],
      }
    })
    const applied = await applyGuarded(store, changes, opts.fence)
    result.pruned += sum(applied)
    skipped += applied.length - sum(applied)
    if (page.length < batch) break
  }
  result.stillLost = Number(await store.call(['ZCARD', keys.instancesLost]))
  return result
}

const sum = (xs: readonly number[]) => xs.reduce((a, b) => a + b, 0)
