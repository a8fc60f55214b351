import type Docker from 'dockerode'
import { redactSpec } from '../secrets.ts'
import { LABELS, type UnitSpec } from '../types.ts'

/**
 * The one place a unit spec becomes Docker create options, for deploys and for rolling
 * replacements alike: every label, secrets as env (the reference's compose column, ".env
 * only"; the spec label keeps only digests), and deliberately no restart policy — the
 * orchestrator restarts in order (see DESIGN.md).
 */
export function containerOptions(
  spec: UnitSpec,
  o: { name: string; network: string; revision: number; deploymentId: string; extraEnv?: string[] },
): Docker.ContainerCreateOptions {
  const hostNetwork = o.network === 'host'
  return {
    name: o.name,
    Image: spec.image,
    Env: [...Object.entries({ ...spec.env, ...(spec.secrets ?? {}) }).map(([k, v]) => `${k}=${v}`), ...(o.extraEnv ?? [])],
    ...(spec.command ? { Cmd: spec.command } : {}),
    Hostname: hostNetwork ? undefined : spec.name,
    Labels: {
      [LABELS.managed]: 'true',
      [LABELS.environment]: spec.environment,
      [LABELS.app]: spec.app,
      [LABELS.role]: spec.role,
      [LABELS.replica]: String(spec.replica),
      [LABELS.revision]: String(o.revision),
      [LABELS.deployment]: o.deploymentId,
      [LABELS.spec]: JSON.stringify(redactSpec(spec)),
    },
    HostConfig: { NetworkMode: o.network, ExtraHosts: spec.extraHosts, RestartPolicy: { Name: 'no' } },
    ...(hostNetwork ? {} : { NetworkingConfig: { EndpointsConfig: { [o.network]: { Aliases: [spec.name] } } } }),
  }
}
