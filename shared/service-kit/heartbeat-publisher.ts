import type { ServiceHeartbeatEvent } from '../heartbeats/schema.ts'
import { writeHeartbeat } from '../heartbeats/write.ts'
import { createKeys } from '../store/keys.ts'
import type { Store } from '../store/types.ts'

export interface HeartbeatPublisherOptions {
  store: Store
  serviceId: string
  appId: string
  /** Called before each beat; return the current status and capacity. */
  sample?: () => Pick<ServiceHeartbeatEvent, 'status' | 'capacity'> | Promise<Pick<ServiceHeartbeatEvent, 'status' | 'capacity'>>
  intervalMs?: number
  ttlSeconds?: number
  keyPrefix?: string
  onError?: (e: unknown) => void
}

/**
 * What a Bannou service embeds: writes its ServiceHeartbeatEvent to
 * `service:heartbeat:{serviceId}:{appId}` (TTL 90 s) and keeps the orchestrator's index in
 * the same MULTI, every `intervalMs` (default 30 s, three beats per TTL).
 */
export function startHeartbeatPublisher(opts: HeartbeatPublisherOptions) {
  const keys = createKeys(opts.keyPrefix ?? '')
  const ttlSeconds = opts.ttlSeconds ?? 90
  const beat = async () => {
    const sample = (await opts.sample?.()) ?? { status: 'healthy' as const }
    return writeHeartbeat({ store: opts.store, keys, ttlSeconds, now: Date.now }, {
      eventId: crypto.randomUUID(),
      timestamp: new Date().toISOString(),
      serviceId: opts.serviceId,
      appId: opts.appId,
      ...sample,
    })
  }
  const tick = () => beat().catch((e) => opts.onError?.(e))
  void tick()
  const timer = setInterval(tick, opts.intervalMs ?? 30_000)
  return {
    beat,
    stop: () => clearInterval(timer),
  }
}
