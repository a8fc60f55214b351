import type { DeployConfig } from '../config.ts'
import type { Unit, UnitSpec } from '../backends/types.ts'
import { KNOWN_SERVICES, type ResolvedPreset } from '../presets/schema.ts'

export type InfraKind = 'redis' | 'rabbitmq' | 'mysql'
export const INFRA_KINDS: readonly InfraKind[] = ['redis', 'rabbitmq', 'mysql']
const DEFAULT_PORTS: Record<InfraKind, number> = { redis: 6379, rabbitmq: 5672, mysql: 3306 }

/** Where one infrastructure component lives: a container we run, or a server we only check. */
export interface InfraTarget {
  kind: InfraKind
  mode: 'container' | 'external'
  /** host:port the apps use (hostname form when ExtraHosts resolves it). */
  address: string
  /** Container we run for it (mode container). */
  unit?: string
}

export interface DesiredState {
  environment: string
  preset: string
  infrastructure: InfraTarget[]
  units: UnitSpec[]
}

export interface DesiredInput {
  environment: string
  preset: ResolvedPreset
  deploy: DeployConfig
  keyPrefix: string
  /** host:port of the orchestrator's own Redis: where apps heartbeat when the preset names no Redis. */
  orchestratorRedis?: string
  /** Every labelled unit on the engine (all environments): port reuse and allocation. */
  existing: Unit[]
  /** hostname -> IP from running infrastructure containers (bridge networks); see infraHosts. */
  discoveredHosts?: Record<string, string>
  random?: () => number
}

export const unitName = (env: string, app: string, replica?: number) => `bannou-${env}-${app}${replica === undefined ? '' : `-${replica}`}`
export const sidecarName = (appUnit: string) => `${appUnit}-dapr`
export const serviceEnvName = (service: string) => `${service.toUpperCase().replace(/-/g, '_')}_SERVICE_ENABLED`
const isIPv4 = (h: string) => /^\d{1,3}(\.\d{1,3}){3}$/.test(h)
const splitAddress = (a: string) => {
  const i = a.lastIndexOf(':')
  return { host: a.slice(0, i), port: Number(a.slice(i + 1)) }
}

/** Decides, per infrastructure entry, container or external (preset's `external` > configured address > container). */
export function infrastructureTargets(input: Pick<DesiredInput, 'environment' | 'preset' | 'deploy'>): InfraTarget[] {
  const out: InfraTarget[] = []
  for (const kind of INFRA_KINDS) {
    const entry = input.preset.infrastructure[kind]
    if (!entry || entry.enabled === false) continue
    const external = entry.external ?? input.deploy.external[kind]
    if (external) out.push({ kind, mode: 'external', address: external })
    else {
      const port = entry.port ?? DEFAULT_PORTS[kind]
      const host = input.deploy.network === 'host' ? '127.0.0.1' : kind
      out.push({ kind, mode: 'container', address: `${host}:${port}`, unit: unitName(input.environment, kind) })
    }
  }
  return out
}

/**
 * ExtraHosts entries (the reference's IP injection): infrastructure hostnames resolved from
 * running infrastructure containers first, then from configured addresses; on the host
 * network every name is 127.0.0.1.
 */
export function hostEntries(input: DesiredInput, targets: InfraTarget[]): Record<string, string> {
  const hosts: Record<string, string> = {}
  const hostNet = input.deploy.network === 'host'
  for (const t of targets) {
    const { host } = splitAddress(t.address)
    if (t.mode === 'container') {
      const ip = hostNet ? '127.0.0.1' : input.discoveredHosts?.[t.kind]
      if (ip) hosts[t.kind] = ip
    } else if (isIPv4(host)) hosts[t.kind] = host
  }
  const placementHost = splitAddress(input.deploy.placementAddress).host
  const placementIp = hostNet ? '127.0.0.1' : input.discoveredHosts?.[placementHost] ?? (isIPv4(placementHost) ? placementHost : undefined)
  if (placementIp && !isIPv4(placementHost)) hosts[placementHost] = placementIp
  return hosts
}

/** Connection string the apps get: hostname:port when ExtraHosts maps the name, else the address itself. */
function appAddress(t: InfraTarget, hosts: Record<string, string>): string {
  const { host, port } = splitAddress(t.address)
  return hosts[t.kind] && (isIPv4(host) || t.mode === 'container') ? `${t.kind}:${port}` : `${host}:${port}`
}

/** Hands out host ports (host networking): reuses a unit's previous ports so unchanged units stay unchanged. */
function portAllocator(input: DesiredInput) {
  const [from, to] = input.deploy.hostPortRange
  const taken = new Set(input.existing.flatMap((u) => [...(u.spec?.hostPorts ?? []), ...(u.reservedPorts ?? [])]))
  const previous = new Map(input.existing.filter((u) => u.environment === input.environment && u.spec).map((u) => [u.name, u.spec!.hostPorts]))
  const rnd = input.random ?? Math.random
  // Ports infrastructure containers of this environment listen on are never handed to apps.
  for (const t of infrastructureTargets(input)) if (t.mode === 'container') taken.add(splitAddress(t.address).port)
  return (unit: string, count: number): number[] => {
    const prev = previous.get(unit)
    if (prev && prev.length === count) return prev
    const out: number[] = []
    for (let tries = 0; out.length < count && tries < 100_000; tries++) {
      const p = from + Math.floor(rnd() * (to - from + 1))
      if (!taken.has(p)) {
        taken.add(p)
        out.push(p)
      }
    }
    return out
  }
}

/**
 * Preset -> desired units: one app container per node × replica (the reference's Assembly
 * Loading Pattern: `{SERVICE}_SERVICE_ENABLED` for every known service), a standalone
 * `{app}-dapr` sidecar per daprEnabled app, and containers for non-external infrastructure.
 */
export function desiredState(input: DesiredInput): DesiredState {
  const { environment, preset, deploy } = input
  const hostNet = deploy.network === 'host'
  const targets = infrastructureTargets(input)
  const hosts = hostEntries(input, targets)
  const ports = portAllocator(input)
  const extraHosts = (more: Record<string, string> = {}) =>
    Object.entries({ ...hosts, ...more })
      .map(([h, ip]) => `${h}:${ip}`)
      .sort()
  const units: UnitSpec[] = []

  for (const t of targets) {
    if (t.mode !== 'container') continue
    const env: Record<string, string> = t.kind === 'mysql' ? { MYSQL_ALLOW_EMPTY_PASSWORD: 'yes', MYSQL_DATABASE: 'bannou' } : {}
    const port = splitAddress(t.address).port
    // A non-default port (host networking next to a server of the machine) is told to the server itself.
    const custom = port !== DEFAULT_PORTS[t.kind]
    if (custom && t.kind === 'rabbitmq') env.RABBITMQ_NODE_PORT = String(port)
    if (custom && t.kind === 'mysql') env.MYSQL_TCP_PORT = String(port)
    units.push({
      name: t.unit!,
      environment,
      app: t.kind,
      role: 'infrastructure',
      replica: 1,
      image: preset.infrastructure[t.kind]?.image ?? deploy.infrastructureImages[t.kind],
      env,
      ...(custom && t.kind === 'redis' ? { command: ['redis-server', '--port', String(port)] } : {}),
      extraHosts: [],
      hostPorts: hostNet ? [port] : [],
    })
  }

  const redis = targets.find((t) => t.kind === 'redis')
  const rabbit = targets.find((t) => t.kind === 'rabbitmq')
  const mysql = targets.find((t) => t.kind === 'mysql')
  const connections: Record<string, string> = {}
  const redisAddress = redis ? appAddress(redis, hosts) : deploy.external.redis ?? input.orchestratorRedis
  if (redisAddress) connections.BANNOU_RedisConnectionString = redisAddress
  const rabbitAddress = rabbit ? appAddress(rabbit, hosts) : deploy.external.rabbitmq
  if (rabbitAddress) connections.BANNOU_RabbitMqConnectionString = `amqp://guest:guest@${rabbitAddress}`
  if (mysql) connections.BANNOU_MySqlConnectionString = `server=${splitAddress(appAddress(mysql, hosts)).host};port=${splitAddress(mysql.address).port};database=bannou;user=root`

  for (const node of preset.nodes) {
    const enabled: Record<string, string> = {}
    for (const s of KNOWN_SERVICES) enabled[serviceEnvName(s)] = String(node.services.includes(s))
    for (const s of node.services) enabled[serviceEnvName(s)] = 'true'
    for (let replica = 1; replica <= node.replicas; replica++) {
      const name = unitName(environment, node.name, replica)
      const side = sidecarName(name)
      const [appPort] = hostNet ? ports(name, 1) : [80]
      const [daprHttp, daprGrpc] = node.daprEnabled ? (hostNet ? ports(side, 2) : [3500, 50001]) : []
      const sidecarHost = hostNet ? '127.0.0.1' : side
      const env: Record<string, string> = {
        ...enabled,
        DAPR_APP_ID: node.daprAppId,
        ...connections,
        PORT: String(appPort),
        BANNOU_InstanceName: name,
        BANNOU_Environment: environment,
        ...(input.keyPrefix ? { BANNOU_KeyPrefix: input.keyPrefix } : {}),
        ...(node.daprEnabled ? { DAPR_HTTP_ENDPOINT: `http://${side}:${daprHttp}`, DAPR_GRPC_ENDPOINT: `http://${side}:${daprGrpc}` } : {}),
        ...node.environment,
      }
      units.push({
        name,
        environment,
        app: node.name,
        role: 'app',
        replica,
        image: node.image ?? deploy.defaultImage,
        env,
        extraHosts: extraHosts(node.daprEnabled && hostNet ? { [side]: sidecarHost } : {}),
        hostPorts: hostNet ? [appPort!] : [],
      })
      if (!node.daprEnabled) continue
      units.push({
        name: side,
        environment,
        app: node.name,
        role: 'sidecar',
        replica,
        image: deploy.daprImage,
        env: { DAPR_APP_ID: node.daprAppId },
        command: [
          './daprd',
          '--app-id', node.daprAppId,
          '--app-port', String(appPort),
          '--app-channel-address', hostNet ? '127.0.0.1' : name,
          '--dapr-http-port', String(daprHttp),
          '--dapr-grpc-port', String(daprGrpc),
          '--placement-host-address', deploy.placementAddress,
        ],
        extraHosts: extraHosts(hostNet ? { [name]: '127.0.0.1' } : {}),
        hostPorts: hostNet ? [daprHttp!, daprGrpc!] : [],
      })
    }
  }
  return { environment, preset: preset.name, infrastructure: targets, units }
}
