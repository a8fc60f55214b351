import type { Context } from '../../shared/context.ts'
import { writeHeartbeat } from '../../shared/heartbeats/write.ts'
import { asArray } from '../../shared/store/ops.ts'

/** A ServiceHeartbeatEvent as a Bannou service writes it. */
export const heartbeat = (serviceId: string, appId: string, status: 'healthy' | 'degraded' | 'overloaded' | 'shutting_down' = 'healthy', at = Date.now()) => ({
  eventId: crypto.randomUUID(),
  timestamp: new Date(at).toISOString(),
  serviceId,
  appId,
  status,
})

export const beat = (ctx: Context, serviceId: string, appId: string, opts: { status?: 'healthy' | 'degraded'; ttlSeconds?: number } = {}) =>
  writeHeartbeat({ store: ctx.store, keys: ctx.keys, ttlSeconds: opts.ttlSeconds ?? 600, now: ctx.clock.now }, heartbeat(serviceId, appId, opts.status ?? 'healthy', ctx.clock.now()))

/** Lifecycle events in the outbox stream, oldest first. */
export async function outboxEvents(ctx: Context): Promise<{ type: string; data: Record<string, unknown> }[]> {
  const entries = asArray(await ctx.store.call(['XRANGE', ctx.keys.outbox, '-', '+']))
  return entries.map((e) => {
    const fields = asArray(asArray(e)[1] ?? []).map(String)
    const payload = fields[fields.indexOf('payload') + 1]!
    return JSON.parse(payload) as { type: string; data: Record<string, unknown> }
  })
}

/** Waits for the first connection (the ioredis driver fails fast instead of queueing while connecting). */
export async function connected<T extends Context>(ctx: T): Promise<T> {
  const deadline = Date.now() + 10_000
  while (Date.now() < deadline) {
    if (await ctx.store.ping().then(() => true, () => false)) return ctx
    await new Promise((r) => setTimeout(r, 50))
  }
  throw new Error('Redis did not answer within 10 s')
}
