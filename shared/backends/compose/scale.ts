import type { UnitSpec } from '../types.ts'

/**
 * Specs of one more replica of an app (and its sidecar), derived from an existing replica's:
 * same image, env and services; its own name, instance name and — on the host network — its
 * own host ports, wired between app and sidecar the way the deploy engine wires them.
 */
export interface ReplicaPorts {
  app: number
  daprHttp?: number
  daprGrpc?: number
}

const setArg = (cmd: string[], flag: string, value: string) => {
  const i = cmd.indexOf(flag)
  if (i >= 0 && i + 1 < cmd.length) cmd[i + 1] = value
}

/** `host:ip` entries with the host `from` renamed to `to`. */
const renameHost = (hosts: string[], from: string, to: string) => hosts.map((h) => (h.startsWith(`${from}:`) ? `${to}${h.slice(from.length)}` : h))

export function replicaSpecs(base: { app: UnitSpec; sidecar?: UnitSpec }, service: string, replica: number, ports: ReplicaPorts | null): { app: UnitSpec; sidecar?: UnitSpec } {
  const name = `${service}-${replica}`
  const side = `${name}-dapr`
  const env: Record<string, string> = { ...base.app.env, BANNOU_InstanceName: name }
  if (ports) env.PORT = String(ports.app)
  const app: UnitSpec = {
    ...base.app,
    name,
    replica,
    env,
    extraHosts: base.sidecar ? renameHost(base.app.extraHosts, base.sidecar.name, side) : [...base.app.extraHosts],
    hostPorts: ports ? [ports.app] : [...base.app.hostPorts],
  }
  if (!base.sidecar) return { app }
  const command = [...(base.sidecar.command ?? [])]
  const http = ports?.daprHttp ?? Number(command[command.indexOf('--dapr-http-port') + 1] ?? 3500)
  const grpc = ports?.daprGrpc ?? Number(command[command.indexOf('--dapr-grpc-port') + 1] ?? 50001)
  if (ports) {
    setArg(command, '--app-port', String(ports.app))
    setArg(command, '--dapr-http-port', String(http))
    setArg(command, '--dapr-grpc-port', String(grpc))
  }
  const i = command.indexOf('--app-channel-address')
  if (i >= 0 && command[i + 1] === base.app.name) command[i + 1] = name
  env.DAPR_HTTP_ENDPOINT = `http://${side}:${http}`
  env.DAPR_GRPC_ENDPOINT = `http://${side}:${grpc}`
  const sidecar: UnitSpec = {
    ...base.sidecar,
    name: side,
    replica,
    command,
    extraHosts: renameHost(base.sidecar.extraHosts, base.app.name, name),
    hostPorts: ports ? [http, grpc] : [...base.sidecar.hostPorts],
  }
  return { app, sidecar }
}
