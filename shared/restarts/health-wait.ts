import * as v from 'valibot'
import type { NewInstance } from '../backends/types.ts'
import type { Context } from '../context.ts'
import { ServiceHeartbeatEvent } from '../heartbeats/schema.ts'
import { asArray, asString, parseJson } from '../store/ops.ts'

const POLL_MS = 100

/**
 * Waits until a new instance has reported a healthy heartbeat for every service it hosts.
 * Replicas of one app share the heartbeat key `service:heartbeat:{service}:{appId}`, so a
 * beat counts for this instance only when it carries its `instanceId`; heartbeats without an
 * instanceId (older services) count when they are healthy and newer than the instance's start.
 */
export async function waitForHealthyHeartbeat(ctx: Context, inst: NewInstance, deadlineMs: number, signal: AbortSignal): Promise<{ ok: boolean; detail: string }> {
  const services = Object.entries(inst.spec.env)
    .filter(([k, val]) => k.endsWith('_SERVICE_ENABLED') && val === 'true')
    .map(([k]) => k.slice(0, -'_SERVICE_ENABLED'.length).toLowerCase().replace(/_/g, '-'))
  const appId = inst.spec.env.DAPR_APP_ID ?? inst.spec.app
  if (services.length === 0) return { ok: true, detail: 'hosts no service: running is enough' }
  const seen = new Set<string>()
  const last: Record<string, string> = {}
  while (!signal.aborted) {
    // The instance's own key first: the shared key is overwritten by its siblings every beat,
    // so polling only that one can miss the replacement's beats for long stretches.
    const raw = asArray(
      await ctx.store.call(['MGET', ...services.flatMap((s) => [ctx.keys.instanceHeartbeat(s, appId, inst.instanceId), ctx.keys.heartbeat(s, appId)])]),
    )
    services.forEach((s, i) => {
      const j = parseJson(asString(raw[2 * i] ?? null) ?? asString(raw[2 * i + 1] ?? null))
      const hb = j.ok ? v.safeParse(ServiceHeartbeatEvent, j.value) : undefined
      if (!hb?.success) return void (last[s] = 'no heartbeat')
      const id = (hb.output as Record<string, unknown>).instanceId
      const mine = typeof id === 'string' ? id === inst.instanceId : Date.parse(hb.output.timestamp) >= inst.startedAtMs
      if (mine) {
        last[s] = hb.output.status
        if (hb.output.status === 'healthy') seen.add(s)
      }
    })
    if (seen.size === services.length) return { ok: true, detail: `healthy heartbeats from ${inst.instanceId} for ${services.join(', ')}` }
    if (Date.now() >= deadlineMs) {
      const missing = services.filter((s) => !seen.has(s)).map((s) => `${s}@${appId}: ${last[s] ?? 'no heartbeat from this instance'}`)
      return { ok: false, detail: `${inst.instanceId} did not report healthy in time (${missing.join('; ')})` }
    }
    await new Promise((r) => setTimeout(r, POLL_MS))
  }
  return { ok: false, detail: 'aborted' }
}
