import type { BackendName } from '../config.ts'

/**
 * The contract every container backend implements (DESIGN.md "Backends"). The deploy engine
 * (shared/environments) decides WHAT runs and in which order; a backend only knows HOW to
 * create, start, stop and list labelled units on its platform.
 */
export type UnitRole = 'infrastructure' | 'app' | 'sidecar'

/** Everything that defines one container. Two equal specs mean "unchanged". */
export interface UnitSpec {
  /** Container name, unique on the engine: bannou-{environment}-{app}-{replica}[-dapr]. */
  name: string
  environment: string
  /** Node name for apps and sidecars, the component (redis, rabbitmq, mysql) for infrastructure. */
  app: string
  role: UnitRole
  replica: number
  image: string
  env: Record<string, string>
  command?: string[]
  /** hostname:ip entries written to /etc/hosts (the reference's ExtraHosts pattern). */
  extraHosts: string[]
  /** Host ports this unit listens on when it shares the host network (allocation bookkeeping). */
  hostPorts: number[]
  /**
   * Secret values by name (shared/backends/secrets.ts). Swarm: a Swarm secret per value, mounted
   * at /run/secrets/{name}, with {name}_FILE in the env; compose: env variables (".env only").
   * Labels and records carry digests, never the values.
   */
  secrets?: Record<string, string>
}

export type UnitState = 'created' | 'running' | 'restarting' | 'paused' | 'exited' | 'dead' | 'removing' | 'unknown'

/** A unit as it exists on the backend now. */
export interface Unit {
  id: string
  name: string
  environment: string
  app: string
  role: UnitRole
  replica: number
  revision: number
  image: string
  state: UnitState
  status: string
  /** The spec it was created from (read back from its label); null for foreign or damaged labels. */
  spec: UnitSpec | null
  createdAt: string
  /** Host ports the backend holds for this unit besides its spec's (swarm: the slot's alternate port). */
  reservedPorts?: number[]
}

export type PlanActionKind = 'create' | 'recreate' | 'remove' | 'unchanged'

export interface PlanAction {
  action: PlanActionKind
  unit: string
  app: string
  role: UnitRole
  reasons: string[]
  /** Desired spec (absent for remove). */
  spec?: UnitSpec
}

export interface Plan {
  environment: string
  revision: number
  actions: PlanAction[]
  summary: Record<PlanActionKind, number>
}

export interface Capabilities {
  liveTopology: 'full' | 'limited' | 'none'
  scaling: boolean
  rollingUpdate: boolean
  secrets: 'native' | 'api' | 'env-only'
  volumes: boolean
  networks: boolean
}

export interface Probe {
  available: boolean
  version?: string
  detail: string
}

export interface ApplyOptions {
  revision: number
  deploymentId: string
  /** Per-unit progress, e.g. to update the deployment record. */
  onProgress?: (unit: string, state: 'pulling' | 'creating' | 'started' | 'removed' | 'failed', detail?: string) => void
  signal?: AbortSignal
  /**
   * How RUNNING apps that must be recreated are replaced (topology `mode`): graceful = rolling,
   * each replacement starts beside its predecessor and takes over once healthy; immediate =
   * rolling without the health wait or drain; force or absent = stop, then start.
   */
  strategy?: RestartStrategy
  /** graceful: resolves when a replacement reports a healthy heartbeat (ok=false at the deadline). */
  waitHealthy?(instance: NewInstance, signal: AbortSignal): Promise<{ ok: boolean; detail: string }>
}

export interface UnitResult {
  unit: string
  action: PlanActionKind
  ok: boolean
  error?: string
}

export interface ApplyResult {
  results: UnitResult[]
}

export interface RestartResult {
  restarted: string[]
}

export interface LogOptions {
  tail?: number
  /** Unix seconds. */
  since?: number
  follow?: boolean
  signal?: AbortSignal
}

export interface LogLine {
  unit: string
  stream: 'stdout' | 'stderr'
  line: string
}

export interface RemoveOptions {
  graceSeconds: number
  removeVolumes: boolean
}

export interface PruneOptions {
  dryRun: boolean
}

export interface PruneResult {
  containers: string[]
  networks: string[]
  images: string[]
  volumes: string[]
  reclaimedBytes: number
}

export type RestartStrategy = 'graceful' | 'immediate' | 'force'

/** One new instance started by a restart, as the health wait sees it. */
export interface NewInstance {
  /** Canonical unit name (what it will be called once the old one is gone). */
  unit: string
  /** What the instance reports as `instanceId` in its heartbeats (BANNOU_InstanceId). */
  instanceId: string
  spec: UnitSpec
  startedAtMs: number
}

export interface RestartAppOptions {
  strategy: RestartStrategy
  /** Seconds an old instance gets between SIGTERM and SIGKILL (graceful only; immediate and force use 0). */
  graceSeconds: number
  /** Instances replaced at once (graceful/immediate). */
  maxParallel: number
  /** Env applied to the new instances (POST /orchestrator/services/restart `environment`). */
  env?: Record<string, string>
  restartId: string
  /** Resolves when the instance reports a healthy heartbeat, or with ok=false at the deadline. */
  waitHealthy(instance: NewInstance, signal: AbortSignal): Promise<{ ok: boolean; detail: string }>
  onProgress?(message: string): void
}

export interface RestartAppResult {
  ok: boolean
  /** old unit/task -> new instance id, in the order they were replaced. */
  replaced: { old: string; new: string }[]
  error?: string
  /** Old instances left (or put back) in place because the rollout stopped. */
  kept: string[]
}

export interface Backend {
  name: BackendName
  capabilities: Capabilities
  probe(): Promise<Probe>
  /** Applies the actions given (one stage of a plan) in parallel; never throws for a unit, reports it. */
  apply(plan: Plan, opts: ApplyOptions): Promise<ApplyResult>
  /** Starts units again (after an infrastructure outage), without recreating them. */
  restart(units: string[], strategy: 'start' | 'restart'): Promise<RestartResult>
  scale(app: string, replicas: number): Promise<void>
  /** Every labelled unit of one environment, or of all environments when env is undefined. */
  status(env?: string): Promise<Unit[]>
  logs(unit: string, opts: LogOptions): AsyncIterable<LogLine>
  remove(env: string, opts: RemoveOptions): Promise<string[]>
  prune(opts: PruneOptions): Promise<PruneResult>
  /** Image id (digest) per image reference, for the revision record. */
  imageIds(images: string[]): Promise<Record<string, string>>
  /** Host address where a unit's port can be reached from the orchestrator (127.0.0.1 on host networking). */
  addressOf(unit: string): Promise<string | null>
  close(): Promise<void>
  /** Restarts every instance of one app with a strategy (shared/restarts); absent = not supported. */
  restartApp?(environment: string, app: string, opts: RestartAppOptions): Promise<RestartAppResult>
}

export type BackendDriver = (config: import('../config.ts').Config) => Backend

/** Raised when the engine cannot be reached; the HTTP layer answers 503. */
export class BackendUnavailableError extends Error {
  constructor(
    readonly backend: string,
    message: string,
  ) {
    super(message)
    this.name = 'BackendUnavailableError'
  }
}

export const LABELS = {
  managed: 'bannou.managed',
  environment: 'bannou.environment',
  app: 'bannou.app',
  revision: 'bannou.revision',
  role: 'bannou.role',
  replica: 'bannou.replica',
  deployment: 'bannou.deployment',
  spec: 'bannou.spec',
} as const
