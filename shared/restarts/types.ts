import type { RestartStrategy } from '../backends/types.ts'

export type RestartPriority = RestartStrategy

/** What a caller asks for (POST …/request-restart, services/restart, the degradation task). */
export interface RestartRequest {
  /** App name as callers know it: the Dapr app id, or the node name of the preset. */
  appName: string
  reason: string
  priority: RestartPriority
  /** Seconds between SIGTERM and SIGKILL for old instances; default ORCHESTRATOR_STOP_GRACE_PERIOD. */
  shutdownGracePeriod?: number
  /** Deploy environment; needed only when the app runs in more than one. */
  environment?: string
  requestedBy: string
  /** Env overrides for the new instances (services/restart). */
  env?: Record<string, string>
  /** Instances replaced at once by graceful/immediate restarts (default 1). */
  maxParallel?: number
}

/** A restart waiting out its coalescing window (orchestrator:restart:pending:{appName}). */
export interface PendingRestart {
  id: string
  appName: string
  environment: string
  /** Node name (the containers' bannou.app label). */
  app: string
  requestedAt: number
  dueAt: number
  priority: RestartPriority
  shutdownGracePeriod: number
  reasons: string[]
  requestedBy: string[]
  env: Record<string, string>
  maxParallel: number
  /** How many requests merged into this one. */
  requests: number
  startedAt?: number
  /**
   * Queued by a runtime without a backend for an app no revision records: environment and app
   * are '' until the Node side resolves them through the backend (before it claims the request).
   */
  unresolved?: true
}

/** One entry of the capped history list orchestrator:restarts:{appName}. */
export interface RestartHistoryEntry {
  id: string
  appName: string
  environment: string
  requestedAt: string
  startedAt: string
  finishedAt: string
  durationMs: number
  reasons: string[]
  requestedBy: string[]
  requests: number
  strategy: RestartPriority
  backend: string
  result: 'succeeded' | 'failed'
  error?: string
  replaced: { old: string; new: string }[]
  kept: string[]
}

export const PRIORITY_RANK: Record<RestartPriority, number> = { graceful: 1, immediate: 2, force: 3 }
export const HISTORY_KEPT = 50
