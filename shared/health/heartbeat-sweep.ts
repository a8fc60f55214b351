import { outboxCommands } from '../events/outbox.ts'
import { stamp } from '../events/schemas.ts'
import type { Keys } from '../store/keys.ts'
import { asArray, asScored, asString, parseJson } from '../store/ops.ts'
import { applyGuarded, type Fence } from '../store/fenced.ts'
import type { GuardedChange } from '../store/scripts.ts'
import type { Command, Store } from '../store/types.ts'
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

const lifecycle = (keys: Keys, type: 'instance.lost' | 'instance.recovered', data: Record<string, unknown>, now: number) =>
  outboxCommands(keys, [{ kind: 'lifecycle', event: stamp({ type, source: 'orchestrator' as const, data }, now) }])[0]!.map(String)

/**
 * The heartbeat sweep. Reads only through the indexes (never SCAN), in bounded batches:
 *  1. stale index members (score older than the timeout): one pipeline of GETs + ZMSCORE on
 *     the lost set per batch; a missing key whose member is not yet lost becomes lost;
 *  2. the lost set: a key that exists again means the instance recovered;
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
  const refresh: Command[] = []
  for (let offset = 0; ; offset += batch) {
    check()
    const page = asScored(await store.call(['ZRANGEBYSCORE', keys.heartbeatIndex, '-inf', cutoff, 'WITHSCORES', 'LIMIT', offset, batch]))
    if (page.length === 0) break
    result.stale += page.length
    const replies = await store.pipeline([...page.map((e): Command => ['GET', keys.heartbeatFromMember(e.member)]), ['ZMSCORE', keys.instancesLost, ...page.map((e) => e.member)]])
    const lostScores = asArray(replies[page.length]!)
    const changes: GuardedChange[] = []
    page.forEach((e, i) => {
      const raw = asString(replies[i]!)
      const { serviceId, appId } = splitMember(e.member)
      if (raw !== null) {
        const body = parseJson(raw)
        const b = body.ok && typeof body.value === 'object' && body.value !== null ? (body.value as Record<string, unknown>) : {}
        const ts = typeof b.timestamp === 'string' ? Date.parse(b.timestamp) : NaN
        const score = Number.isNaN(ts) ? now : Math.min(ts, now)
        const svc = serviceId ?? (typeof b.serviceId === 'string' ? b.serviceId : null)
        if (score > e.score) {
          refresh.push(['ZADD', keys.heartbeatIndex, 'GT', score, e.member])
          if (svc) refresh.push(['ZADD', keys.serviceHeartbeatIndex(svc), 'GT', score, e.member])
        }
        return
      }
      if (lostScores[i] !== null && lostScores[i] !== undefined) return
      const hb = keys.heartbeatFromMember(e.member)
      changes.push({
        guards: [
          { cmd: ['EXISTS', hb], expected: 0 },
          { cmd: ['ZADD', keys.instancesLost, 'NX', String(now), e.member], expected: 1 },
        ],
        then: [lifecycle(keys, 'instance.lost', { serviceId, appId, instance: e.member, lastSeen: new Date(e.score).toISOString(), lostAt: new Date(now).toISOString() }, now)],
      })
    })
    if (changes.length) result.lost += sum(await applyGuarded(store, changes, opts.fence))
    if (page.length < batch) break
  }
  if (refresh.length) {
    await store.pipeline(refresh)
    result.refreshed = refresh.filter((c) => c[1] === keys.heartbeatIndex).length
  }

  // 2. Recoveries: any lost member whose key exists again (written through our index or not).
  const recovered: GuardedChange[] = []
  for (let start = 0; ; start += batch) {
    check()
    const page = asScored(await store.call(['ZRANGE', keys.instancesLost, start, start + batch - 1, 'WITHSCORES']))
    if (page.length === 0) break
    const exists = await store.pipeline(page.map((e): Command => ['EXISTS', keys.heartbeatFromMember(e.member)]))
    page.forEach((e, i) => {
      if (exists[i] !== 1) return
      const { serviceId, appId } = splitMember(e.member)
      recovered.push({
        guards: [
          { cmd: ['EXISTS', keys.heartbeatFromMember(e.member)], expected: 1 },
          { cmd: ['ZREM', keys.instancesLost, e.member], expected: 1 },
        ],
        then: [
          lifecycle(keys, 'instance.recovered', { serviceId, appId, instance: e.member, lostAt: new Date(e.score).toISOString(), recoveredAt: new Date(now).toISOString(), downSeconds: Math.round((now - e.score) / 1000) }, now),
        ],
      })
    })
    if (page.length < batch) break
  }
  if (recovered.length) result.recovered = sum(await applyGuarded(store, recovered, opts.fence))

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
