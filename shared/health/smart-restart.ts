import type { ServiceHealth, ServiceStatus } from './service-health.ts'

export interface RestartRecommendation {
  serviceName: string
  shouldRestart: boolean
  currentStatus: ServiceStatus
  reason: string
  degradedSince: string | null
  degradedDurationSeconds: number | null
  thresholdMinutes: number
}

/**
 * The reference's SmartRestartManager table:
 *   healthy → no; degraded < threshold → no (transient); degraded ≥ threshold → yes; unavailable → yes.
 */
export function recommendRestart(
  serviceName: string,
  health: ServiceHealth | undefined,
  now: number,
  thresholdMinutes: number,
): RestartRecommendation {
  const base = { serviceName, thresholdMinutes }
  if (!health || health.instances.length === 0) {
    return {
      ...base,
      shouldRestart: true,
      currentStatus: 'unavailable',
      reason: 'no instance of this service has reported a heartbeat',
      degradedSince: null,
      degradedDurationSeconds: null,
    }
  }
  const sinceMs = health.degradedSince ? Date.parse(health.degradedSince) : null
  const duration = sinceMs === null ? null : Math.max(0, Math.round((now - sinceMs) / 1000))
  const common = { ...base, currentStatus: health.status, degradedSince: health.degradedSince, degradedDurationSeconds: duration }
  if (health.status === 'healthy') return { ...common, shouldRestart: false, reason: 'all instances are healthy' }
  if (health.status === 'unavailable') {
    return { ...common, shouldRestart: true, reason: `all ${health.counts.total} instance(s) are unavailable (heartbeats expired)` }
  }
  return { ...common, ...restartVerdict(health.status, duration, thresholdMinutes) }
}

/**
 * The rule itself, for one service or one instance: healthy → no; unavailable → yes;
 * degraded → yes once it has lasted the threshold, otherwise no (transient).
 */
export function restartVerdict(status: ServiceStatus, degradedSeconds: number | null, thresholdMinutes: number): { shouldRestart: boolean; reason: string } {
  if (status === 'healthy') return { shouldRestart: false, reason: 'healthy' }
  if (status === 'unavailable') return { shouldRestart: true, reason: 'unavailable (heartbeat expired)' }
  const seconds = degradedSeconds ?? 0
  return seconds >= thresholdMinutes * 60
    ? { shouldRestart: true, reason: `degraded for ${seconds}s, over the ${thresholdMinutes} min threshold` }
    : { shouldRestart: false, reason: `degraded for ${seconds}s, under the ${thresholdMinutes} min threshold (transient)` }
}
