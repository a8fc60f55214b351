import type Docker from 'dockerode'
import type { Config } from '../../config.ts'
import { LABELS, type RestartStrategy, type UnitSpec } from '../types.ts'

/**
 * Plan units → Swarm service specs. App replicas of one node become ONE replicated service
 * (`bannou-{env}-{app}`, a task per replica slot); sidecars and infrastructure are one
 * single-replica service per unit. On the host network replicas share the port space, so an
 * app service gets every replica's port in BANNOU_PORTS and each task picks its own with
 * BANNOU_TaskSlot={{.Task.Slot}} (Swarm's env templates).
 */
export const SPECS_LABEL = 'bannou.specs'
export const KIND_LABEL = 'bannou.swarm-kind'

/** The service a unit belongs to. */
export const serviceNameOf = (spec: Pick<UnitSpec, 'name' | 'role' | 'environment' | 'app'>) =>
  spec.role === 'app' ? `bannou-${spec.environment}-${spec.app}` : spec.name

/** Unit name of one task: apps are `{service}-{slot}` (the deploy engine's unit names). */
export const unitNameOf = (service: string, kind: string, slot: number) => (kind === 'app-group' ? `${service}-${slot}` : service)

const NS = 1_000_000_000

/** How a restart strategy maps onto update_config (rollback_config mirrors it). */
export function updateConfig(strategy: RestartStrategy, maxParallel: number, monitorSeconds: number) {
  return {
    // force = everything at once; graceful/immediate = rolling, maxParallel at a time.
    Parallelism: strategy === 'force' ? 0 : Math.max(1, maxParallel),
    // stop-first: on the host network a slot's replacement needs its predecessor's port.
    Order: 'stop-first',
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
}

export function serviceSpec(i: ServiceSpecInput): Docker.CreateServiceOptions {
  const specs = [...i.specs].sort((a, b) => a.replica - b.replica)
  const first = specs[0]!
  const group = first.role === 'app'
  const hostNet = i.config.deploy.network === 'host'
  const env: Record<string, string> = { ...first.env, ...(i.extraEnv ?? {}) }
  if (group) {
    env.BANNOU_PORTS = specs.map((s) => s.env.PORT ?? '80').join(',')
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
  return {
    Name: i.name,
    Labels: { ...labels, [KIND_LABEL]: group ? 'app-group' : 'unit', [SPECS_LABEL]: JSON.stringify(specs) },
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
    UpdateConfig: updateConfig(strategy, i.maxParallel ?? 1, 5),
    RollbackConfig: updateConfig(strategy, i.maxParallel ?? 1, 5),
  } as unknown as Docker.CreateServiceOptions
}
