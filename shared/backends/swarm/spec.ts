import type Docker from 'dockerode'
import type { Config } from '../../config.ts'
import { redactSpec } from '../secrets.ts'
import { LABELS, type RestartStrategy, type UnitSpec } from '../types.ts'

/**
 * Plan units → Swarm service specs. App replicas of one node become ONE replicated service
 * (`bannou-{env}-{app}`, a task per replica slot); sidecars and infrastructure are one
 * single-replica service per unit. On the host network replicas share the port space, so an
 * app service gets every replica's port in BANNOU_PORTS and each task picks its own with
 * BANNOU_TaskSlot={{.Task.Slot}} (Swarm's env templates).
 *
 * Zero-downtime updates on the host network: every slot owns TWO host ports (its unit spec's
 * PORT and an alternate one), and each update of the service switches the port set that
 * BANNOU_PORTS lists. A slot's replacement therefore binds the port its predecessor does not
 * use, so Swarm can start it first (update_config order start-first), wait for its health
 * check, and only then stop the old task.
 */
export const SPECS_LABEL = 'bannou.specs'
export const KIND_LABEL = 'bannou.swarm-kind'
/** JSON array: the alternate host port of each slot (aligned with the specs sorted by replica). */
export const ALT_PORTS_LABEL = 'bannou.alt-ports'
/** '0' = BANNOU_PORTS lists the specs' ports, '1' = the alternate ones. */
export const PORT_SET_LABEL = 'bannou.port-set'

/** The service a unit belongs to. */
export const serviceNameOf = (spec: Pick<UnitSpec, 'name' | 'role' | 'environment' | 'app'>) =>
  spec.role === 'app' ? `bannou-${spec.environment}-${spec.app}` : spec.name

/** Unit name of one task: apps are `{service}-{slot}` (the deploy engine's unit names). */
export const unitNameOf = (service: string, kind: string, slot: number) => (kind === 'app-group' ? `${service}-${slot}` : service)

const NS = 1_000_000_000

/** How a restart strategy maps onto update_config (rollback_config mirrors it). */
export function updateConfig(strategy: RestartStrategy, maxParallel: number, monitorSeconds: number, startFirst: boolean) {
  return {
    // force = everything at once; graceful/immediate = rolling, maxParallel at a time.
    Parallelism: strategy === 'force' ? 0 : Math.max(1, maxParallel),
    // start-first: the replacement runs (and passes its health check) before its predecessor
    // stops. Only where the two can coexist: app groups (alternating ports), never force.
    Order: startFirst && strategy !== 'force' ? 'start-first' : 'stop-first',
    FailureAction: 'rollback',
    Monitor: monitorSeconds * NS,
    MaxFailureRatio: 0,
    Delay: 0,
  }
}

function healthCheck(env: Record<string, string>) {
  const raw = env.BANNOU_HealthCheckCmd
  if (!raw) return undefined
  try {
    const cmd = JSON.parse(raw) as string[]
    return { Test: ['CMD', ...cmd], Interval: 0.25 * NS, Timeout: 2 * NS, Retries: 3, StartPeriod: 30 * NS }
  } catch {
    return undefined
  }
}

export interface ServiceSpecInput {
  config: Config
  name: string
  specs: UnitSpec[]
  revision: number
  deploymentId: string
  strategy?: RestartStrategy
  maxParallel?: number
  graceSeconds?: number
  extraEnv?: Record<string, string>
  forceUpdate?: number
  secrets?: { SecretID: string; SecretName: string; File: { Name: string; UID: string; GID: string; Mode: number } }[]
  /** App groups on the host network: each slot's alternate port and which set BANNOU_PORTS lists. */
  ports?: { alt: number[]; set: 0 | 1 }
}

export function serviceSpec(i: ServiceSpecInput): Docker.CreateServiceOptions {
  const specs = [...i.specs].sort((a, b) => a.replica - b.replica)
  const first = specs[0]!
  const group = first.role === 'app'
  const hostNet = i.config.deploy.network === 'host'
  const env: Record<string, string> = { ...first.env, ...(i.extraEnv ?? {}) }
  // Secrets are files (/run/secrets/{name}); {name}_FILE tells the app where.
  for (const k of Object.keys(first.secrets ?? {})) env[`${k}_FILE`] = `/run/secrets/${k}`
  if (group) {
    env.BANNOU_PORTS = specs.map((s, n) => (i.ports?.set === 1 && i.ports.alt[n] ? String(i.ports.alt[n]) : (s.env.PORT ?? '80'))).join(',')
    env.BANNOU_TaskSlot = '{{.Task.Slot}}'
    env.BANNOU_InstanceName = `${i.name}-{{.Task.Slot}}`
    env.BANNOU_InstanceId = '{{.Task.ID}}'
    delete env.PORT
  }
  const labels = {
    [LABELS.managed]: 'true',
    [LABELS.environment]: first.environment,
    [LABELS.app]: first.app,
    [LABELS.role]: first.role,
    [LABELS.revision]: String(i.revision),
    [LABELS.deployment]: i.deploymentId,
  }
  const strategy = i.strategy ?? 'graceful'
  // On the host network only a group with alternate ports can run a slot twice at once.
  const startFirst = group && (!hostNet || !!i.ports)
  return {
    Name: i.name,
    Labels: {
      ...labels,
      [KIND_LABEL]: group ? 'app-group' : 'unit',
      [SPECS_LABEL]: JSON.stringify(specs.map(redactSpec)),
      ...(i.ports ? { [ALT_PORTS_LABEL]: JSON.stringify(i.ports.alt), [PORT_SET_LABEL]: String(i.ports.set) } : {}),
    },
    TaskTemplate: {
      ContainerSpec: {
        Image: first.image,
        Env: Object.entries(env).map(([k, v]) => `${k}=${v}`),
        ...(first.command ? { Args: first.command } : {}),
        Labels: labels,
        Hosts: first.extraHosts.map((h) => {
          const at = h.lastIndexOf(':')
          return `${h.slice(at + 1)} ${h.slice(0, at)}`
        }),
        StopGracePeriod: (i.graceSeconds ?? i.config.deploy.stopGraceSeconds) * NS,
        ...(healthCheck(env) ? { HealthCheck: healthCheck(env) } : {}),
        ...(i.secrets?.length ? { Secrets: i.secrets } : {}),
      },
      RestartPolicy: { Condition: 'on-failure', Delay: 1 * NS, MaxAttempts: 3 },
      ...(hostNet ? { Networks: [{ Target: 'host' }] } : { Networks: [{ Target: i.config.deploy.network }] }),
      ...(i.forceUpdate ? { ForceUpdate: i.forceUpdate } : {}),
    },
    Mode: { Replicated: { Replicas: specs.length } },
    UpdateConfig: updateConfig(strategy, i.maxParallel ?? 1, 5, startFirst),
    RollbackConfig: updateConfig(strategy, i.maxParallel ?? 1, 5, startFirst),
  } as unknown as Docker.CreateServiceOptions
}
