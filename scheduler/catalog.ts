import type { TaskInfo } from './task.ts'

/**
 * What every scheduled task is, without its implementation: GET /orchestrator/scheduler and
 * its edge bundle read this, so they carry none of the task code (workerd's isolate start
 * grows with bundle size). The task files take their metadata from here; a test checks that
 * the catalog and the registry (scheduler/tasks.ts) list the same tasks in the same order.
 */
export const taskCatalog: readonly TaskInfo[] = [
  {
    name: 'heartbeat-index',
    description: 'Adds heartbeat keys written by other clients (plain SET service:heartbeat:…) to the orchestrator index, by incremental SCAN',
    everySeconds: (ctx) => ctx.config.healthCheckIntervalSeconds,
  },
  {
    name: 'heartbeat-sweep',
    description: 'Marks instances whose heartbeat expired as lost (and back when it returns), one lifecycle event per transition; prunes instances lost longer than ORCHESTRATOR_HEARTBEAT_RETENTION',
    everySeconds: (ctx) => ctx.config.healthCheckIntervalSeconds,
  },
  {
    name: 'degradation-check',
    description: 'Tracks degraded-since per instance and requests a restart (auto:degraded / auto:unavailable) when the smart-restart rules say so; repeats coalesce',
    everySeconds: (ctx) => ctx.config.healthCheckIntervalSeconds,
  },
  {
    name: 'outbox-relay',
    description: 'Publishes outbox events to RabbitMQ with publisher confirms; XACK+XDEL only confirmed entries, reclaims stalled ones',
    everySeconds: () => 30,
  },
  {
    name: 'secret-sync',
    description: 'Placeholder: does nothing yet. The secrets issue fills it (resolve ${secrets:…} references, sync providers, publish changed keys).',
    everySeconds: (ctx) => ctx.config.healthCheckIntervalSeconds,
  },
  {
    name: 'environment-watch',
    description: 'Rolls back deploys interrupted by a crash; after an infrastructure outage starts exited apps then sidecars again, once',
    everySeconds: (ctx) => Math.min(ctx.config.healthCheckIntervalSeconds, 10),
  },
  {
    name: 'routing-refresh',
    description: 'Renews service:routing:{serviceName} (TTL 5 min) for every environment\'s current revision and re-creates keys that expired; a teardown or newer deploy in between wins',
    everySeconds: () => 60,
  },
  {
    name: 'restart-due',
    description: 'Starts restart requests whose coalescing window has passed but whose accepting process did not run them (it died, or the environment was at its limit)',
    everySeconds: () => 5,
  },
]

export function taskInfo(name: string): TaskInfo {
  const info = taskCatalog.find((t) => t.name === name)
  if (!info) throw new Error(`task ${name} is not in scheduler/catalog.ts`)
  return info
}
