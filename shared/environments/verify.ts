import * as v from 'valibot'
import type { Backend } from '../backends/types.ts'
import type { Context } from '../context.ts'
import { ServiceHeartbeatEvent } from '../heartbeats/schema.ts'
import type { ResolvedPreset } from '../presets/schema.ts'
import { asArray, asString, parseJson } from '../store/ops.ts'

export interface VerifyEntry {
  appId: string
  service: string
  node: string
  status: string
  healthy: boolean
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
  onUpdate?: (entries: VerifyEntry[]) => void
  signal?: AbortSignal
}

const POLL_MS = 300

/** Waits until every (service, app id) of the preset reports a healthy heartbeat in Redis. */
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
    const report = JSON.stringify(entries)
    if (report !== lastReport) {
      lastReport = report
      o.onUpdate?.(entries)
    }
    const units = await backend.status(o.environment)
    const down = units.filter((u) => watched.has(u.name) && u.state !== 'running').map((u) => `${u.name} exited (${u.status || u.state})`)
    const present = new Set(units.map((u) => u.name))
    down.push(...[...watched].filter((n) => !present.has(n)).map((n) => `${n} is gone`))
    if (down.length) return { ok: false, error: `container ${down.join(', ')} before it became healthy`, entries }
    // Healthy only counts while every container is still up (checked just above).
    if (entries.every((e) => e.healthy)) return { ok: true, entries }
    if (Date.now() >= o.deadlineMs || o.signal?.aborted) {
      const bad = entries.filter((e) => !e.healthy).map((e) => `${e.service}@${e.appId}: ${e.status}`)
      return { ok: false, error: `not healthy before the verify deadline: ${bad.join('; ')}`, entries }
    }
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
}
