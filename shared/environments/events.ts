import { stamp, type LifecycleEvent, type OutboundEvent } from '../events/schemas.ts'

/** An orchestrator lifecycle event (bannou-orchestrator exchange) about one environment. */
export const lifecycle = (type: LifecycleEvent['type'], environment: string, data: Record<string, unknown>): OutboundEvent => ({
  kind: 'lifecycle',
  event: stamp({ type, source: 'orchestrator' as const, environment, data }) as LifecycleEvent,
})

/** register / update / unregister per service, from the app ids before and after. */
export function mappingEvents(before: Record<string, string>, after: Record<string, string>): OutboundEvent[] {
  const out: OutboundEvent[] = []
  const ev = (serviceName: string, appId: string, action: 'register' | 'update' | 'unregister'): OutboundEvent => ({
    kind: 'service-mapping',
    event: stamp({ serviceName, appId, action }) as OutboundEvent['event'] & { action: typeof action },
  } as OutboundEvent)
  for (const [s, appId] of Object.entries(after)) {
    if (!(s in before)) out.push(ev(s, appId, 'register'))
    else if (before[s] !== appId) out.push(ev(s, appId, 'update'))
  }
  for (const [s, appId] of Object.entries(before)) if (!(s in after)) out.push(ev(s, appId, 'unregister'))
  return out
}
