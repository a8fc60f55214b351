import * as v from 'valibot'
import type { Backend, Unit, UnitSpec } from '../backends/types.ts'
import type { Context } from '../context.ts'
import { ServiceHeartbeatEvent } from '../heartbeats/schema.ts'
import type { ResolvedPreset } from '../presets/schema.ts'
import { asArray, asString, parseJson } from '../store/ops.ts'
import { errorMessage } from '../errors.ts'

export interface VerifyEntry {
  appId: string
  service: string
  node: string
  status: string
  healthy: boolean
  /** Set on sidecar entries (service "dapr-sidecar"): the sidecar container checked. */
  unit?: string
}

/** A Dapr sidecar the deploy waits for: its container and the HTTP port it must answer on. */
export interface SidecarCheck {
  unit: string
  node: string
  appId: string
  httpPort: number
}

/** Sidecars of a desired state, with the --dapr-http-port each was told. */
export function sidecarChecks(units: UnitSpec[]): SidecarCheck[] {
  return units
    .filter((u) => u.role === 'sidecar')
    .map((u) => {
      const i = u.command?.indexOf('--dapr-http-port') ?? -1
      const port = i >= 0 ? Number(u.command![i + 1]) : (u.hostPorts[0] ?? 3500)
      return { unit: u.name, node: u.app, appId: u.env.DAPR_APP_ID ?? u.app, httpPort: port }
    })
}

const SIDECAR_PROBE_MS = 1000

/**
 * Is the sidecar ready? On the host network: GET http://127.0.0.1:{port}/v1.0/healthz answers
 * 2xx. On a bridge network we never contact container IPs: the engine's health status decides
 * ("(healthy)"); a sidecar image without a health check counts as ready once running.
 */
async function sidecarReady(s: SidecarCheck, unit: Unit | undefined, hostNetwork: boolean): Promise<{ healthy: boolean; status: string }> {
  if (!unit || unit.state !== 'running') return { healthy: false, status: `container ${unit ? unit.state : 'missing'}` }
  if (!hostNetwork) {
    if (/\(healthy\)/.test(unit.status)) return { healthy: true, status: 'healthy (engine health check)' }
    if (/unhealthy|health: starting/.test(unit.status)) return { healthy: false, status: `engine health check: ${unit.status}` }
    return { healthy: true, status: 'running (no engine health check)' }
  }
  try {
    const r = await fetch(`http://127.0.0.1:${s.httpPort}/v1.0/healthz`, { signal: AbortSignal.timeout(SIDECAR_PROBE_MS) })
    await r.arrayBuffer().catch(() => undefined)
    return r.ok ? { healthy: true, status: `healthz ${r.status}` } : { healthy: false, status: `healthz answered ${r.status}` }
  } catch (e) {
    const cause = e instanceof Error && e.cause instanceof Error ? e.cause.message : errorMessage(e)
    return { healthy: false, status: `not listening on 127.0.0.1:${s.httpPort} (${cause})` }
  }
}

export interface VerifyOptions {
  environment: string
  preset: ResolvedPreset
  /**
   * Nodes with a new container -> when it was created (after its predecessor was removed):
   * only a heartbeat written after that proves the new container is healthy.
   */
  freshSince: Map<string, number>
  deadlineMs: number
  /** Units that must stay running while we wait (a container that exits fails the deploy at once). */
  units: string[]
  /** Dapr sidecars that must be ready too (a deploy is not done while an app's sidecar does not answer). */
  sidecars?: SidecarCheck[]
  /** Host networking: sidecars are probed on 127.0.0.1; otherwise the engine's health status decides. */
  hostNetwork?: boolean
  onUpdate?: (entries: VerifyEntry[]) => void
  signal?: AbortSignal
}

const POLL_MS = 300

/** Waits until every (service, app id) of the preset reports a healthy heartbeat in Redis and every Dapr sidecar is ready. */
export async function verifyByHeartbeat(ctx: Context, backend: Backend, o: VerifyOptions): Promise<{ ok: boolean; error?: string; entries: VerifyEntry[] }> {
  const expected = o.preset.nodes.flatMap((n) => n.services.map((service) => ({ node: n.name, appId: n.daprAppId, service })))
  const unique = [...new Map(expected.map((e) => [`${e.service}:${e.appId}`, e])).values()]
  const watched = new Set(o.units)
  let entries: VerifyEntry[] = []
  let lastReport = ''
  while (true) {
    const raw = unique.length ? asArray(await ctx.store.call(['MGET', ...unique.map((e) => ctx.keys.heartbeat(e.service, e.appId))])) : []
    entries = unique.map((e, i) => {
      const j = parseJson(asString(raw[i] ?? null))
      const hb = j.ok ? v.safeParse(ServiceHeartbeatEvent, j.value) : undefined
      if (!hb?.success) return { ...e, status: j.ok ? 'invalid heartbeat' : 'no heartbeat yet', healthy: false }
      const since = o.freshSince.get(e.node)
      const fresh = since === undefined || Date.parse(hb.output.timestamp) >= since
      return { ...e, status: fresh ? hb.output.status : 'only a heartbeat from before this deploy', healthy: fresh && hb.output.status === 'healthy' }
    })
    const units = await backend.status(o.environment)
    const byName = new Map(units.map((u) => [u.name, u]))
    const sidecars = await Promise.all(
      (o.sidecars ?? []).map(async (c) => ({ appId: c.appId, service: 'dapr-sidecar', node: c.node, unit: c.unit, ...(await sidecarReady(c, byName.get(c.unit), o.hostNetwork ?? false)) })),
    )
    entries = [...entries, ...sidecars]
    const report = JSON.stringify(entries)
    if (report !== lastReport) {
      lastReport = report
      o.onUpdate?.(entries)
    }
    const down = units.filter((u) => watched.has(u.name) && u.state !== 'running').map((u) => `${u.name} exited (${u.status || u.state})`)
    const present = new Set(units.map((u) => u.name))
    down.push(...[...watched].filter((n) => !present.has(n)).map((n) => `${n} is gone`))
    if (down.length) return { ok: false, error: `container ${down.join(', ')} before it became healthy`, entries }
    // Healthy only counts while every container is still up (checked just above).
    if (entries.every((e) => e.healthy)) return { ok: true, entries }
    if (Date.now() >= o.deadlineMs || o.signal?.aborted) {
      const bad = entries.filter((e) => !e.healthy).map((e) => (e.unit ? `sidecar ${e.unit}: ${e.status}` : `${e.service}@${e.appId}: ${e.status}`))
      return { ok: false, error: `not healthy before the verify deadline: ${bad.join('; ')}`, entries }
    }
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}
