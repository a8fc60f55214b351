import * as v from 'valibot'
import { ServiceHeartbeatEvent } from '../heartbeats/schema.ts'
import { asArray, asScored, asString, parseJson } from '../store/ops.ts'
import type { Keys } from '../store/keys.ts'
import type { Command, Store } from '../store/types.ts'

export type InstanceStatus = 'healthy' | 'degraded' | 'overloaded' | 'shutting_down' | 'unavailable' | 'invalid'
export type ServiceStatus = 'healthy' | 'degraded' | 'unavailable'

export interface InstanceHealth {
  serviceId: string
  appId: string
  status: InstanceStatus
  lastSeen: string
  lastSeenAgeSeconds: number
  capacity?: { maxConnections?: number; currentConnections?: number; cpuUsage?: number; memoryUsage?: number }
  problem?: string
}

export interface ServiceHealth {
  serviceName: string
  status: ServiceStatus
  instances: InstanceHealth[]
  counts: { total: number; healthy: number; degraded: number; unavailable: number }
  capacity: { maxConnections: number; currentConnections: number; avgCpuUsage: number | null; avgMemoryUsage: number | null }
  lastSeenAgeSeconds: number | null
  degradedSince: string | null
}

export interface ServicesHealthReport {
  status: ServiceStatus | 'unknown'
  checkedAt: string
  services: ServiceHealth[]
  counts: { services: number; instances: number; healthy: number; degraded: number; unavailable: number }
}

const MGET_CHUNK = 1000

/** Instance-level status mapped onto the three service levels. */
export const levelOf = (s: InstanceStatus): ServiceStatus =>
  s === 'healthy' ? 'healthy' : s === 'unavailable' ? 'unavailable' : 'degraded'

/**
 * Worst case across instances, with one softening: a service with at least one live
 * instance is degraded, not unavailable; it is unavailable only when every instance is gone.
 */
export function aggregateStatus(instances: readonly InstanceHealth[]): ServiceStatus {
  if (instances.length === 0) return 'unavailable'
  const levels = instances.map((i) => levelOf(i.status))
  if (levels.every((l) => l === 'unavailable')) return 'unavailable'
  return levels.every((l) => l === 'healthy') ? 'healthy' : 'degraded'
}

export function parseInstance(member: string, scoreMs: number, raw: string | null, serviceName: string, now: number): InstanceHealth {
  const fallbackAppId = member.startsWith(`${serviceName}:`) ? member.slice(serviceName.length + 1) : member
  const base = { serviceId: serviceName, appId: fallbackAppId }
  const age = (ms: number) => Math.max(0, Math.round((now - ms) / 100) / 10)
  if (raw === null) {
    return { ...base, status: 'unavailable', lastSeen: new Date(scoreMs).toISOString(), lastSeenAgeSeconds: age(scoreMs), problem: 'heartbeat expired' }
  }
  const json = parseJson(raw)
  const parsed = json.ok ? v.safeParse(ServiceHeartbeatEvent, json.value) : undefined
  if (!parsed?.success) {
    const problem = !json.ok ? `heartbeat is not JSON: ${json.error}` : `heartbeat does not match ServiceHeartbeatEvent: ${parsed!.issues.map((i) => `${i.path?.map((p) => String(p.key)).join('.') ?? '(root)'} ${i.message}`).join('; ')}`
    return { ...base, status: 'invalid', lastSeen: new Date(scoreMs).toISOString(), lastSeenAgeSeconds: age(scoreMs), problem }
  }
  const hb = parsed.output
  const seen = Date.parse(hb.timestamp)
  return {
    serviceId: hb.serviceId,
    appId: hb.appId,
    status: hb.status,
    lastSeen: hb.timestamp,
    lastSeenAgeSeconds: age(Number.isNaN(seen) ? scoreMs : seen),
    ...(hb.capacity ? { capacity: hb.capacity } : {}),
  }
}

function summarize(serviceName: string, instances: InstanceHealth[], degradedSince: number | null): ServiceHealth {
  const counts = { total: instances.length, healthy: 0, degraded: 0, unavailable: 0 }
  let maxConnections = 0
  let currentConnections = 0
  const cpu: number[] = []
  const mem: number[] = []
  for (const i of instances) counts[levelOf(i.status)]++
  for (const i of instances) {
    if (i.status === 'unavailable' || !i.capacity) continue
    maxConnections += i.capacity.maxConnections ?? 0
    currentConnections += i.capacity.currentConnections ?? 0
    if (i.capacity.cpuUsage !== undefined) cpu.push(i.capacity.cpuUsage)
    if (i.capacity.memoryUsage !== undefined) mem.push(i.capacity.memoryUsage)
  }
  const avg = (xs: number[]) => (xs.length ? Math.round((xs.reduce((a, b) => a + b, 0) / xs.length) * 1000) / 1000 : null)
  const ages = instances.map((i) => i.lastSeenAgeSeconds)
  const status = aggregateStatus(instances)
  return {
    serviceName,
    status,
    instances,
    counts,
    capacity: { maxConnections, currentConnections, avgCpuUsage: avg(cpu), avgMemoryUsage: avg(mem) },
    lastSeenAgeSeconds: ages.length ? Math.min(...ages) : null,
    degradedSince: status === 'healthy' || degradedSince === null ? null : new Date(degradedSince).toISOString(),
  }
}

export interface HealthReader {
  store: Store
  keys: Keys
  now: () => number
}

/**
 * Reads services through the index (never SCAN): one pipeline for the index entries and
 * degraded-since marks, one for the heartbeat values, and a write only on a transition.
 */
export async function readServicesHealth(r: HealthReader, filter?: string): Promise<ServicesHealthReport> {
  const { store, keys } = r
  const names = filter ? [filter] : (asArray(await store.call(['SMEMBERS', keys.services])).map(String).sort())
  const now = r.now()
  const report: ServicesHealthReport = {
    status: 'unknown',
    checkedAt: new Date(now).toISOString(),
    services: [],
    counts: { services: 0, instances: 0, healthy: 0, degraded: 0, unavailable: 0 },
  }
  if (names.length === 0) return report

  const indexReplies = await store.pipeline([
    ...names.map((n): Command => ['ZRANGE', keys.serviceHeartbeatIndex(n), 0, -1, 'WITHSCORES']),
    ['HMGET', keys.degradedSince, ...names],
  ])
  const entries = names.map((_, i) => asScored(indexReplies[i]!))
  const since = asArray(indexReplies[names.length]!).map((x) => (asString(x) === null ? null : Number(x)))

  const allMembers = entries.flatMap((e) => e.map((x) => keys.heartbeatFromMember(x.member)))
  const chunks: Command[] = []
  for (let i = 0; i < allMembers.length; i += MGET_CHUNK) chunks.push(['MGET', ...allMembers.slice(i, i + MGET_CHUNK)])
  const values = chunks.length ? (await store.pipeline(chunks)).flatMap((c) => asArray(c).map(asString)) : []

  const transitions: Command[] = []
  let offset = 0
  names.forEach((name, i) => {
    const list = entries[i]!
    if (filter && list.length === 0) return
    const instances = list.map((e, j) => parseInstance(e.member, e.score, values[offset + j] ?? null, name, now))
    offset += list.length
    let mark = since[i] ?? null
    const status = aggregateStatus(instances)
    if (status !== 'healthy' && mark === null) {
      mark = now
      transitions.push(['HSETNX', keys.degradedSince, name, now])
    } else if (status === 'healthy' && mark !== null) {
      mark = null
      transitions.push(['HDEL', keys.degradedSince, name])
    }
    report.services.push(summarize(name, instances, mark))
  })
  if (transitions.length) await store.pipeline(transitions)

  for (const s of report.services) {
    report.counts.instances += s.counts.total
    report.counts.healthy += s.counts.healthy
    report.counts.degraded += s.counts.degraded
    report.counts.unavailable += s.counts.unavailable
  }
  report.counts.services = report.services.length
  report.status = report.services.length === 0 ? 'unknown' : worst(report.services.map((s) => s.status))
  return report
}

const rank: Record<ServiceStatus, number> = { healthy: 0, degraded: 1, unavailable: 2 }
const worst = (xs: ServiceStatus[]): ServiceStatus => xs.reduce((a, b) => (rank[b] > rank[a] ? b : a), 'healthy')
