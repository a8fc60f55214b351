import * as v from 'valibot'

const uuid = v.pipe(v.string(), v.uuid('must be a UUID'))
const isoDateTime = v.pipe(
  v.string(),
  v.check((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s) && !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 date-time'),
)
const name = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be 1-100 letters, digits, _ . or -'))

/** The reference's ServiceMappingEvent; field names exactly as written there. */
export const ServiceMappingEvent = v.object({
  eventId: uuid,
  timestamp: isoDateTime,
  serviceName: name,
  appId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'must be an app id')),
  action: v.picklist(['register', 'unregister', 'update'], 'must be register, unregister or update'),
  region: v.optional(v.string()),
  priority: v.optional(v.pipe(v.number(), v.integer())),
})
export type ServiceMappingEvent = v.InferOutput<typeof ServiceMappingEvent>

/** Keys only, never values: a consumer re-reads what it needs from its own config source. */
export const ConfigurationChangedEvent = v.object({
  eventId: uuid,
  timestamp: isoDateTime,
  configVersion: v.pipe(v.number(), v.integer(), v.minValue(0)),
  changedKeys: v.array(v.pipe(v.string(), v.minLength(1), v.maxLength(256))),
})
export type ConfigurationChangedEvent = v.InferOutput<typeof ConfigurationChangedEvent>

export const LIFECYCLE_TYPES = [
  'deployment.started',
  'deployment.succeeded',
  'deployment.failed',
  'deployment.rolled-back',
  'restart.requested',
  'restart.completed',
  'topology.changed',
  'backend.detected',
  'instance.lost',
  'instance.recovered',
] as const

/** One envelope for every orchestrator lifecycle event; routing key = `type`. */
export const LifecycleEvent = v.object({
  eventId: uuid,
  timestamp: isoDateTime,
  type: v.picklist(LIFECYCLE_TYPES),
  source: v.literal('orchestrator'),
  environment: v.optional(v.string()),
  data: v.record(v.string(), v.unknown()),
})
export type LifecycleEvent = v.InferOutput<typeof LifecycleEvent>

export const EXCHANGES = {
  serviceMappings: 'bannou-service-mappings',
  configuration: 'bannou-configuration',
  orchestrator: 'bannou-orchestrator',
} as const

export type OutboundEvent =
  | { kind: 'service-mapping'; event: ServiceMappingEvent }
  | { kind: 'configuration'; event: ConfigurationChangedEvent }
  | { kind: 'lifecycle'; event: LifecycleEvent }

/** Fills eventId/timestamp so domain code only states what happened. */
export const stamp = <T extends object>(e: T, now = Date.now()) => ({ eventId: crypto.randomUUID(), timestamp: new Date(now).toISOString(), ...e })
