import * as v from 'valibot'

export const HEARTBEAT_STATUSES = ['healthy', 'degraded', 'overloaded', 'shutting_down'] as const

const isoDateTime = v.pipe(
  v.string(),
  v.check((s) => /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(s) && !Number.isNaN(Date.parse(s)), 'must be an ISO 8601 date-time'),
)

const fraction = v.pipe(v.number(), v.minValue(0), v.maxValue(1))
const count = v.pipe(v.number(), v.integer(), v.minValue(0))

/**
 * ServiceHeartbeatEvent exactly as the reference's common-events.yaml defines it
 * ("DO NOT MODIFY"). Unknown extra fields are kept, since existing Bannou services write them.
 */
export const ServiceHeartbeatEvent = v.looseObject({
  eventId: v.pipe(v.string(), v.minLength(1, 'must not be empty')),
  timestamp: isoDateTime,
  serviceId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.-]{1,100}$/, 'letters, digits, _ . - only (max 100)')),
  appId: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'letters, digits, _ . : - only (max 200)')),
  status: v.picklist(HEARTBEAT_STATUSES, `must be one of ${HEARTBEAT_STATUSES.join(', ')}`),
  capacity: v.optional(
    v.looseObject({
      maxConnections: v.optional(count),
      currentConnections: v.optional(count),
      cpuUsage: v.optional(fraction),
      memoryUsage: v.optional(fraction),
    }),
  ),
})

export type ServiceHeartbeatEvent = v.InferOutput<typeof ServiceHeartbeatEvent>
