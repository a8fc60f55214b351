import * as v from 'valibot'

/**
 * Every ORCHESTRATOR_* variable, parsed once. The env record is injected (process.env on
 * Node, the `env` argument on edge runtimes) so nothing here reads globals.
 */
export type EnvRecord = Record<string, string | undefined>

const intFrom = (name: string, min: number, max: number, fallback: number) =>
  v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^\d+$/, `${name} must be a whole number`),
      v.transform(Number),
      v.minValue(min, `${name} must be ≥ ${min}`),
      v.maxValue(max, `${name} must be ≤ ${max}`),
    ),
    String(fallback),
  )

const numberFrom = (name: string, min: number, fallback: number) =>
  v.optional(
    v.pipe(
      v.string(),
      v.trim(),
      v.regex(/^\d+(\.\d+)?$/, `${name} must be a number`),
      v.transform(Number),
      v.minValue(min, `${name} must be ≥ ${min}`),
    ),
    String(fallback),
  )

const optionalText = v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)))

const redisConnection = v.optional(
  v.pipe(
    v.string(),
    v.trim(),
    v.regex(
      /^(rediss?:\/\/.+|[A-Za-z0-9_.\-[\]:]+:\d{1,5}(,.*)?|[A-Za-z0-9_.-]+)$/,
      'expected host:port, redis://… or rediss://…',
    ),
  ),
)

const url = (what: string) =>
  v.optional(v.pipe(v.string(), v.trim(), v.url(`${what} must be an absolute URL`)))

const EnvSchema = v.object({
  ORCHESTRATOR_PORT: intFrom('port (0 picks a free one)', 0, 65535, 8090),
  ORCHESTRATOR_LISTEN_HOST: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), '0.0.0.0'),
  PORT: v.optional(v.string()),
  ORCHESTRATOR_STORE: v.optional(v.picklist(['memory', 'redis', 'upstash'], 'expected memory, redis or upstash')),
  ORCHESTRATOR_REDIS_CONNECTION: redisConnection,
  ORCHESTRATOR_UPSTASH_URL: url('ORCHESTRATOR_UPSTASH_URL'),
  ORCHESTRATOR_UPSTASH_TOKEN: optionalText,
  ORCHESTRATOR_RABBITMQ_CONNECTION: v.optional(
    v.pipe(v.string(), v.trim(), v.regex(/^amqps?:\/\/.+/, 'expected amqp://user:pass@host:port')),
  ),
  ORCHESTRATOR_DOCKER_HOST: v.optional(
    v.pipe(v.string(), v.trim(), v.regex(/^(unix|tcp|https?|npipe):\/\/.+/, 'expected unix:///path or tcp://host:port')),
    'unix:///var/run/docker.sock',
  ),
  ORCHESTRATOR_DOCKER_TLS_CERT_PATH: optionalText,
  ORCHESTRATOR_KUBERNETES_CONFIG: optionalText,
  ORCHESTRATOR_KUBERNETES_NAMESPACE: v.optional(
    v.pipe(v.string(), v.regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'expected a DNS-1123 label')),
    'bannou',
  ),
  ORCHESTRATOR_PORTAINER_URL: url('ORCHESTRATOR_PORTAINER_URL'),
  ORCHESTRATOR_PORTAINER_API_KEY: optionalText,
  ORCHESTRATOR_PREFERRED_BACKEND: v.optional(
    v.picklist(['auto', 'kubernetes', 'portainer', 'swarm', 'compose'], 'expected auto, kubernetes, portainer, swarm or compose'),
    'auto',
  ),
  ORCHESTRATOR_PRESETS_DIRECTORY: optionalText,
  ORCHESTRATOR_HEALTH_CHECK_INTERVAL: intFrom('seconds', 1, 86400, 30),
  ORCHESTRATOR_HEARTBEAT_TIMEOUT: intFrom('seconds', 1, 86400, 90),
  ORCHESTRATOR_DEGRADATION_THRESHOLD: numberFrom('minutes', 0, 5),
  ORCHESTRATOR_HEALTH_CACHE_MS: intFrom('milliseconds', 0, 60000, 1000),
  // Scheduler (scheduler/): singleton lease, sweep retention
  ORCHESTRATOR_SCHEDULER_LEASE_TTL_MS: intFrom('milliseconds', 200, 600_000, 15_000),
  ORCHESTRATOR_SCHEDULER_LEASE_RETRY_MS: intFrom('milliseconds', 50, 600_000, 2_000),
  ORCHESTRATOR_HEARTBEAT_RETENTION: intFrom('seconds', 1, 30 * 86400, 3600),
  ORCHESTRATOR_DAPR_PLACEMENT_URL: url('ORCHESTRATOR_DAPR_PLACEMENT_URL'),
  ORCHESTRATOR_KEY_PREFIX: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9_:.-]*$/, 'letters, digits, _ : . - only')), ''),
  ORCHESTRATOR_LOG_LEVEL: v.optional(v.picklist(['debug', 'info', 'warn', 'error', 'silent']), 'info'),
  // Deploy engine (shared/environments)
  ORCHESTRATOR_DEFAULT_IMAGE: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), 'bannou:latest'),
  ORCHESTRATOR_DAPR_IMAGE: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), 'daprio/daprd:1.14.4'),
  ORCHESTRATOR_DAPR_PLACEMENT_ADDRESS: v.optional(v.pipe(v.string(), v.regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')), 'placement:50006'),
  ORCHESTRATOR_REDIS_IMAGE: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), 'redis:7.4-alpine'),
  ORCHESTRATOR_RABBITMQ_IMAGE: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), 'rabbitmq:3.13-alpine'),
  ORCHESTRATOR_MYSQL_IMAGE: v.optional(v.pipe(v.string(), v.trim(), v.minLength(1)), 'mysql:8.4'),
  ORCHESTRATOR_EXTERNAL_REDIS: v.optional(v.pipe(v.string(), v.regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port'))),
  ORCHESTRATOR_EXTERNAL_RABBITMQ: v.optional(v.pipe(v.string(), v.regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port'))),
  ORCHESTRATOR_EXTERNAL_MYSQL: v.optional(v.pipe(v.string(), v.regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port'))),
  ORCHESTRATOR_DOCKER_NETWORK: v.optional(v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, 'must be a Docker network name or host')), 'bannou'),
  ORCHESTRATOR_DOCKER_SUBNET: v.optional(
    v.pipe(
      v.string(),
      v.regex(/^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})\/(\d{1,2})$/, 'must be an IPv4 CIDR such as 10.42.0.0/24'),
      v.check((s) => s.split(/[./]/).slice(0, 4).every((o) => Number(o) <= 255) && Number(s.split('/')[1]) <= 30, 'must be an IPv4 CIDR with octets ≤ 255 and a prefix ≤ /30'),
    ),
  ),
  ORCHESTRATOR_HOST_PORT_RANGE: v.optional(v.pipe(v.string(), v.regex(/^\d{4,5}-\d{4,5}$/, 'must be FROM-TO, e.g. 20000-29999')), '20000-29999'),
  ORCHESTRATOR_DEPLOY_VERIFY_TIMEOUT: intFrom('seconds', 1, 3600, 120),
  ORCHESTRATOR_INFRA_WAIT_TIMEOUT: intFrom('seconds', 1, 3600, 120),
  ORCHESTRATOR_STOP_GRACE_PERIOD: intFrom('seconds', 0, 600, 10),
  // Restarts and backend detection (shared/restarts, shared/backends/detection.ts)
  ORCHESTRATOR_RESTART_COALESCE_WINDOW: numberFrom('seconds', 0, 10),
  ORCHESTRATOR_RESTART_BUDGET: intFrom('restarts', 1, 1000, 3),
  ORCHESTRATOR_RESTART_BUDGET_WINDOW: intFrom('seconds', 1, 86400, 600),
  ORCHESTRATOR_MAX_CONCURRENT_RESTARTS: intFrom('restarts', 1, 100, 2),
  ORCHESTRATOR_RESTART_HEALTH_TIMEOUT: intFrom('seconds', 1, 3600, 60),
  ORCHESTRATOR_BACKEND_CACHE_SECONDS: intFrom('seconds', 0, 3600, 10),
})

export type StoreDriverName = 'memory' | 'redis' | 'upstash'
export type BackendName = 'kubernetes' | 'portainer' | 'swarm' | 'compose'

export interface Config {
  port: number
  listenHost: string
  store: StoreDriverName
  redisConnection?: string
  upstash?: { url: string; token: string }
  rabbitmqConnection?: string
  dockerHost: string
  dockerTlsCertPath?: string
  kubernetesConfig?: string
  kubernetesNamespace: string
  portainerUrl?: string
  portainerApiKey?: string
  preferredBackend: 'auto' | BackendName
  presetsDirectory?: string
  healthCheckIntervalSeconds: number
  heartbeatTimeoutSeconds: number
  degradationThresholdMinutes: number
  /** How long a service-health read is reused (single-flight); 0 disables. */
  healthCacheMs: number
  /** Scheduler lease and sweep settings (see README "Scheduler"). */
  scheduler: SchedulerConfig
  daprPlacementUrl?: string
  keyPrefix: string
  logLevel: 'debug' | 'info' | 'warn' | 'error' | 'silent'
  /** true when state lives only in this process (no Redis configured). */
  embedded: boolean
  deploy: DeployConfig
  restarts: RestartsConfig
  /** How long GET /orchestrator/backends reuses a detection (0 = always probe). */
  backendCacheSeconds: number
}

/** Limits of the restart path (shared/restarts). */
export interface RestartsConfig {
  /** Requests for one app within this window merge into one restart. */
  coalesceWindowSeconds: number
  /** At most `budget` restarts of one app per `budgetWindowSeconds`; beyond: 429. */
  budget: number
  budgetWindowSeconds: number
  /** Restarts running at once in one environment. */
  maxConcurrentPerEnvironment: number
  /** How long a replacement instance may take to report a healthy heartbeat. */
  healthTimeoutSeconds: number
}

/** Settings of the deploy engine (shared/environments) and the compose backend. */
export interface DeployConfig {
  defaultImage: string
  daprImage: string
  placementAddress: string
  infrastructureImages: Record<'redis' | 'rabbitmq' | 'mysql', string>
  /** host:port of servers the orchestrator uses instead of starting a container. */
  external: Partial<Record<'redis' | 'rabbitmq' | 'mysql', string>>
  /** 'host' shares the host's network (ports are allocated per container); anything else is a bridge network we create. */
  network: string
  /** Subnet of the network when the orchestrator creates it (e.g. to stay clear of a VPN's 172.x); an existing network is used as is. */
  subnet?: string
  hostPortRange: [number, number]
  verifyTimeoutSeconds: number
  infrastructureWaitSeconds: number
  stopGraceSeconds: number
}

export interface SchedulerConfig {
  /** Lease expiry; a killed leader is replaced within leaseTtlMs + leaseRetryMs. */
  leaseTtlMs: number
  /** How often a follower tries to take the lease. */
  leaseRetryMs: number
  /** How long a lost instance stays in the heartbeat index before the sweep prunes it. */
  heartbeatRetentionSeconds: number
}

export class ConfigError extends Error {
  constructor(readonly problems: { variable: string; message: string; value?: string }[]) {
    super(
      'Invalid orchestrator configuration:\n' +
        problems.map((p) => `  - ${p.variable}: ${p.message}${p.value === undefined ? '' : ` (got "${p.value}")`}`).join('\n'),
    )
    this.name = 'ConfigError'
  }
}

/** Parses every variable; reports all bad ones at once. */
export function loadConfig(env: EnvRecord): Config {
  const relevant: EnvRecord = {}
  for (const [k, value] of Object.entries(env)) {
    if ((k.startsWith('ORCHESTRATOR_') || k === 'PORT') && value !== undefined && value !== '') relevant[k] = value
  }
  const result = v.safeParse(EnvSchema, relevant, { abortPipeEarly: true })
  const problems: { variable: string; message: string; value?: string }[] = []
  if (!result.success) {
    for (const issue of result.issues) {
      const variable = String(issue.path?.[0]?.key ?? 'environment')
      problems.push({ variable, message: issue.message, value: relevant[variable] })
    }
  }
  let port = 8090
  if (result.success) port = result.output.ORCHESTRATOR_PORT
  if (relevant.PORT !== undefined && relevant.ORCHESTRATOR_PORT === undefined) {
    const p = Number(relevant.PORT)
    if (!Number.isInteger(p) || p < 1 || p > 65535) problems.push({ variable: 'PORT', message: 'must be a port number 1-65535', value: relevant.PORT })
    else port = p
  }
  if (!result.success || problems.length > 0) throw new ConfigError(problems)
  const e = result.output

  const store: StoreDriverName =
    e.ORCHESTRATOR_STORE ??
    (e.ORCHESTRATOR_REDIS_CONNECTION ? 'redis' : e.ORCHESTRATOR_UPSTASH_URL ? 'upstash' : 'memory')
  if (store === 'redis' && !e.ORCHESTRATOR_REDIS_CONNECTION) {
    problems.push({ variable: 'ORCHESTRATOR_REDIS_CONNECTION', message: 'required when ORCHESTRATOR_STORE=redis' })
  }
  if (store === 'upstash' && (!e.ORCHESTRATOR_UPSTASH_URL || !e.ORCHESTRATOR_UPSTASH_TOKEN)) {
    problems.push({
      variable: e.ORCHESTRATOR_UPSTASH_URL ? 'ORCHESTRATOR_UPSTASH_TOKEN' : 'ORCHESTRATOR_UPSTASH_URL',
      message: 'ORCHESTRATOR_UPSTASH_URL and ORCHESTRATOR_UPSTASH_TOKEN are both required when ORCHESTRATOR_STORE=upstash',
    })
  }
  if (problems.length > 0) throw new ConfigError(problems)

  return {
    port,
    listenHost: e.ORCHESTRATOR_LISTEN_HOST,
    store,
    redisConnection: e.ORCHESTRATOR_REDIS_CONNECTION,
    upstash:
      e.ORCHESTRATOR_UPSTASH_URL && e.ORCHESTRATOR_UPSTASH_TOKEN
        ? { url: e.ORCHESTRATOR_UPSTASH_URL, token: e.ORCHESTRATOR_UPSTASH_TOKEN }
        : undefined,
    rabbitmqConnection: e.ORCHESTRATOR_RABBITMQ_CONNECTION,
    dockerHost: e.ORCHESTRATOR_DOCKER_HOST,
    dockerTlsCertPath: e.ORCHESTRATOR_DOCKER_TLS_CERT_PATH,
    kubernetesConfig: e.ORCHESTRATOR_KUBERNETES_CONFIG,
    kubernetesNamespace: e.ORCHESTRATOR_KUBERNETES_NAMESPACE,
    portainerUrl: e.ORCHESTRATOR_PORTAINER_URL,
    portainerApiKey: e.ORCHESTRATOR_PORTAINER_API_KEY,
    preferredBackend: e.ORCHESTRATOR_PREFERRED_BACKEND,
    presetsDirectory: e.ORCHESTRATOR_PRESETS_DIRECTORY,
    healthCheckIntervalSeconds: e.ORCHESTRATOR_HEALTH_CHECK_INTERVAL,
    heartbeatTimeoutSeconds: e.ORCHESTRATOR_HEARTBEAT_TIMEOUT,
    degradationThresholdMinutes: e.ORCHESTRATOR_DEGRADATION_THRESHOLD,
    healthCacheMs: e.ORCHESTRATOR_HEALTH_CACHE_MS,
    scheduler: {
      leaseTtlMs: e.ORCHESTRATOR_SCHEDULER_LEASE_TTL_MS,
      leaseRetryMs: e.ORCHESTRATOR_SCHEDULER_LEASE_RETRY_MS,
      heartbeatRetentionSeconds: e.ORCHESTRATOR_HEARTBEAT_RETENTION,
    },
    daprPlacementUrl: e.ORCHESTRATOR_DAPR_PLACEMENT_URL,
    keyPrefix: e.ORCHESTRATOR_KEY_PREFIX,
    logLevel: e.ORCHESTRATOR_LOG_LEVEL,
    embedded: store === 'memory',
    deploy: {
      defaultImage: e.ORCHESTRATOR_DEFAULT_IMAGE,
      daprImage: e.ORCHESTRATOR_DAPR_IMAGE,
      placementAddress: e.ORCHESTRATOR_DAPR_PLACEMENT_ADDRESS,
      infrastructureImages: { redis: e.ORCHESTRATOR_REDIS_IMAGE, rabbitmq: e.ORCHESTRATOR_RABBITMQ_IMAGE, mysql: e.ORCHESTRATOR_MYSQL_IMAGE },
      external: {
        ...(e.ORCHESTRATOR_EXTERNAL_REDIS ? { redis: e.ORCHESTRATOR_EXTERNAL_REDIS } : {}),
        ...(e.ORCHESTRATOR_EXTERNAL_RABBITMQ ? { rabbitmq: e.ORCHESTRATOR_EXTERNAL_RABBITMQ } : {}),
        ...(e.ORCHESTRATOR_EXTERNAL_MYSQL ? { mysql: e.ORCHESTRATOR_EXTERNAL_MYSQL } : {}),
      },
      network: e.ORCHESTRATOR_DOCKER_NETWORK,
      ...(e.ORCHESTRATOR_DOCKER_SUBNET ? { subnet: e.ORCHESTRATOR_DOCKER_SUBNET } : {}),
      hostPortRange: e.ORCHESTRATOR_HOST_PORT_RANGE.split('-').map(Number) as [number, number],
      verifyTimeoutSeconds: e.ORCHESTRATOR_DEPLOY_VERIFY_TIMEOUT,
      infrastructureWaitSeconds: e.ORCHESTRATOR_INFRA_WAIT_TIMEOUT,
      stopGraceSeconds: e.ORCHESTRATOR_STOP_GRACE_PERIOD,
    },
    restarts: {
      coalesceWindowSeconds: e.ORCHESTRATOR_RESTART_COALESCE_WINDOW,
      budget: e.ORCHESTRATOR_RESTART_BUDGET,
      budgetWindowSeconds: e.ORCHESTRATOR_RESTART_BUDGET_WINDOW,
      maxConcurrentPerEnvironment: e.ORCHESTRATOR_MAX_CONCURRENT_RESTARTS,
      healthTimeoutSeconds: e.ORCHESTRATOR_RESTART_HEALTH_TIMEOUT,
    },
    backendCacheSeconds: e.ORCHESTRATOR_BACKEND_CACHE_SECONDS,
  }
}
