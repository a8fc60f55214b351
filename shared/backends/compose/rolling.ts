import type Docker from 'dockerode'
import { errorMessage as message } from '../../errors.ts'
import { createServer } from 'node:net'
import type { Config } from '../../config.ts'
import { containerOptions } from './container-options.ts'
import { type NewInstance, type RestartAppOptions, type RestartAppResult, type Unit, type UnitSpec } from '../types.ts'

/**
 * Rolling restarts on plain Docker, which has none (the reference's compose column): for each
 * old instance start a replacement beside it (a fresh host port when containers share the
 * host network), wait for its healthy heartbeat, then stop the old one with its grace period
 * and give the replacement the canonical name. At every moment at least one healthy instance
 * exists. A replacement that never gets healthy is removed and the rollout stops, leaving the
 * old instances running.
 */
export interface RollingDeps {
  docker: Docker
  config: Config
  /** Every labelled unit on the engine (all environments): ports in use. */
  list(env?: string): Promise<Unit[]>
}

const code = (e: unknown) => (e as { statusCode?: number })?.statusCode
const EXIT_POLL_MS = 200

/** A port in the configured range that no labelled unit claims and that nothing listens on. */
export async function freePort(config: Config, taken: Set<number>): Promise<number> {
  const [from, to] = config.deploy.hostPortRange
  for (let tries = 0; tries < 200; tries++) {
    const p = from + Math.floor(Math.random() * (to - from + 1))
    if (taken.has(p)) continue
    const ok = await new Promise<boolean>((resolve) => {
      const s = createServer()
      s.once('error', () => resolve(false))
      s.listen(p, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    if (ok) {
      taken.add(p)
      return p
    }
  }
  throw new Error(`no free host port in ${from}-${to}`)
}

const setArg = (cmd: string[], flag: string, value: string) => {
  const i = cmd.indexOf(flag)
  if (i >= 0 && i + 1 < cmd.length) cmd[i + 1] = value
}

/** The replacement specs of one replica: new host ports (host networking), env overrides applied. */
async function respec(deps: RollingDeps, app: UnitSpec, sidecar: UnitSpec | undefined, env: Record<string, string>, taken: Set<number>) {
  const hostNet = deps.config.deploy.network === 'host'
  const nextApp: UnitSpec = { ...app, env: { ...app.env, ...env }, hostPorts: [...app.hostPorts] }
  const nextSide: UnitSpec | undefined = sidecar ? { ...sidecar, command: [...(sidecar.command ?? [])], hostPorts: [...sidecar.hostPorts] } : undefined
  if (!hostNet) return { app: nextApp, sidecar: nextSide }
  const port = await freePort(deps.config, taken)
  nextApp.env.PORT = String(port)
  nextApp.hostPorts = [port]
  if (nextSide) {
    const [http, grpc] = [await freePort(deps.config, taken), await freePort(deps.config, taken)]
    nextSide.hostPorts = [http, grpc]
    setArg(nextSide.command!, '--app-port', String(port))
    setArg(nextSide.command!, '--dapr-http-port', String(http))
    setArg(nextSide.command!, '--dapr-grpc-port', String(grpc))
    nextApp.env.DAPR_HTTP_ENDPOINT = `http://${sidecar!.name}:${http}`
    nextApp.env.DAPR_GRPC_ENDPOINT = `http://${sidecar!.name}:${grpc}`
  }
  return { app: nextApp, sidecar: nextSide }
}

/**
 * The spec with its secret values read back from the container's env (labels hold only
 * digests; the env is where compose keeps the values).
 */
export async function withSecretValues(docker: Docker, container: string, spec: UnitSpec): Promise<UnitSpec> {
  if (!spec.secrets || Object.keys(spec.secrets).length === 0) return spec
  const env = (await docker.getContainer(container).inspect()).Config.Env ?? []
  const value = (k: string) => env.find((e) => e.startsWith(`${k}=`))?.slice(k.length + 1)
  const secrets = Object.fromEntries(Object.keys(spec.secrets).map((k) => [k, value(k) ?? spec.secrets![k]!]))
  return { ...spec, secrets }
}

/** Creates and starts one container from a spec under a (temporary) name; the spec label keeps the canonical name. */
async function startUnit(deps: RollingDeps, spec: UnitSpec, name: string, revision: number, deploymentId: string) {
  // BANNOU_InstanceId is not part of the spec: it tells this instance's heartbeats apart from its predecessor's.
  const c = await deps.docker.createContainer(
    containerOptions(spec, { name, network: deps.config.deploy.network, revision, deploymentId, extraEnv: [`BANNOU_InstanceId=${name}`] }),
  )
  await c.start()
  return name
}

async function stopAndRemove(docker: Docker, name: string, graceSeconds: number) {
  const c = docker.getContainer(name)
  await c.stop({ t: graceSeconds }).catch((e) => (code(e) === 304 || code(e) === 404 ? undefined : Promise.reject(e)))
  await c.remove({ force: true }).catch((e) => (code(e) === 404 ? undefined : Promise.reject(e)))
}

/** Health wait raced against the container exiting (an exited replacement fails at once). */
async function healthy(docker: Docker, inst: NewInstance, containerName: string, opts: Pick<RestartAppOptions, 'waitHealthy'>) {
  const ac = new AbortController()
  const exited = (async () => {
    while (!ac.signal.aborted) {
      const info = await docker.getContainer(containerName).inspect().catch(() => null)
      if (!info || !info.State.Running) return { ok: false, detail: `${containerName} ${info ? `exited with code ${info.State.ExitCode}` : 'disappeared'} before it became healthy` }
      await new Promise((r) => setTimeout(r, EXIT_POLL_MS))
    }
    return { ok: false, detail: 'aborted' }
  })()
  try {
    return await Promise.race([opts.waitHealthy(inst, ac.signal), exited])
  } finally {
    ac.abort()
  }
}

interface Replica {
  app: Unit
  sidecar?: Unit
}

/** One old instance (app + sidecar) and the specs its replacement runs. */
export interface Replacement {
  old: Replica
  next: { app: UnitSpec; sidecar?: UnitSpec }
}

export interface ReplaceOptions extends Pick<RestartAppOptions, 'graceSeconds' | 'maxParallel' | 'waitHealthy' | 'onProgress'> {
  strategy: 'graceful' | 'immediate'
  /** Labels of the replacements. */
  revision: number
  deploymentId: string
  /** Called when a replacement starts (before any health wait) and when it took over. */
  onUnit?(unit: string, state: 'creating' | 'started'): void
}

/**
 * Replaces instances `maxParallel` at a time: each replacement starts beside its predecessor
 * (temporary name, fresh host ports), then — graceful: once its heartbeat says healthy;
 * immediate: once it runs — the old one stops (graceful: with its grace period) and the
 * replacement takes the canonical name. The first batch with a replacement that fails stops
 * the rollout: its replacements go, the old instances stay.
 */
export async function replaceInBatches(deps: RollingDeps, items: Replacement[], opts: ReplaceOptions): Promise<RestartAppResult> {
  const { docker } = deps
  const result: RestartAppResult = { ok: true, replaced: [], kept: [] }
  const suffix = opts.deploymentId.slice(0, 8)
  const batch = Math.max(1, opts.maxParallel)
  for (let i = 0; i < items.length; i += batch) {
    const group = items.slice(i, i + batch)
    const staged = await Promise.all(
      group.map(async ({ old: r, next }) => {
        const tempApp = `${r.app.name}-next-${suffix}`
        const tempSide = r.sidecar && next.sidecar ? `${r.sidecar.name}-next-${suffix}` : undefined
        const startedAtMs = Date.now()
        opts.onUnit?.(r.app.name, 'creating')
        try {
          await startUnit(deps, next.app, tempApp, opts.revision, opts.deploymentId)
          if (tempSide) await startUnit(deps, next.sidecar!, tempSide, opts.revision, opts.deploymentId)
        } catch (e) {
          return { r, tempApp, tempSide, check: { ok: false, detail: `could not start the replacement: ${message(e)}` } }
        }
        opts.onProgress?.(`started ${tempApp} beside ${r.app.name}`)
        const inst: NewInstance = { unit: r.app.name, instanceId: tempApp, spec: next.app, startedAtMs }
        const check =
          opts.strategy === 'graceful'
            ? await healthy(docker, inst, tempApp, opts)
            : await docker
                .getContainer(tempApp)
                .inspect()
                .then((x) => ({ ok: x.State.Running, detail: x.State.Running ? 'running' : `exited with code ${x.State.ExitCode}` }))
        return { r, tempApp, tempSide, check }
      }),
    )
    const failed = staged.filter((s) => !s.check.ok)
    if (failed.length) {
      // Stop the rollout: remove every replacement of this batch, keep the old instances.
      await Promise.all(staged.flatMap((s) => [s.tempSide, s.tempApp]).filter((n): n is string => !!n).map((n) => stopAndRemove(docker, n, 0)))
      result.ok = false
      result.error = failed.map((f) => `${f.r.app.name}: ${f.check.detail}`).join('; ')
      result.kept = items.slice(i).map((x) => x.old.app.name)
      return result
    }
    const grace = opts.strategy === 'graceful' ? opts.graceSeconds : 0
    for (const s of staged) {
      if (s.tempSide) await stopAndRemove(docker, s.r.sidecar!.name, grace)
      await stopAndRemove(docker, s.r.app.name, grace)
      await docker.getContainer(s.tempApp).rename({ name: s.r.app.name })
      if (s.tempSide) await docker.getContainer(s.tempSide).rename({ name: s.r.sidecar!.name })
      result.replaced.push({ old: s.r.app.name, new: s.tempApp })
      opts.onUnit?.(s.r.app.name, 'started')
      opts.onProgress?.(`replaced ${s.r.app.name}`)
    }
  }
  return result
}

/** Replacement specs of one replica: new host ports (host networking), env overrides applied. */
export async function replacementFor(deps: RollingDeps, old: Replica, app: UnitSpec, sidecar: UnitSpec | undefined, taken: Set<number>, env: Record<string, string> = {}): Promise<Replacement> {
  return { old, next: await respec(deps, app, sidecar, env, taken) }
}

/** Ports claimed by labelled units (specs and backend reservations). */
export const takenPorts = (units: Unit[]) => new Set(units.flatMap((u) => [...(u.spec?.hostPorts ?? []), ...(u.reservedPorts ?? [])]))

export async function rollingRestart(deps: RollingDeps, environment: string, app: string, opts: RestartAppOptions): Promise<RestartAppResult> {
  const { docker } = deps
  const all = await deps.list()
  const mine = all.filter((u) => u.environment === environment && u.app === app && u.spec)
  // Specs with their secret values again (the labels carry digests).
  for (const u of mine) u.spec = await withSecretValues(docker, u.name, u.spec!)
  const replicas: Replica[] = mine
    .filter((u) => u.role === 'app')
    .sort((a, b) => a.replica - b.replica)
    .map((u) => ({ app: u, sidecar: mine.find((s) => s.role === 'sidecar' && s.name === `${u.name}-dapr`) }))
  const env = opts.env ?? {}

  if (opts.strategy === 'force') {
    const result: RestartAppResult = { ok: true, replaced: [], kept: [] }
    // All at once: stop everything (no grace), recreate from the same specs, then check health.
    await Promise.all(replicas.flatMap((r) => [r.sidecar, r.app]).filter((u): u is Unit => !!u).map((u) => stopAndRemove(docker, u.name, 0)))
    const started = await Promise.all(
      replicas.map(async (r) => {
        const spec = { ...r.app.spec!, env: { ...r.app.spec!.env, ...env } }
        const startedAtMs = Date.now()
        await startUnit(deps, spec, spec.name, r.app.revision, opts.restartId)
        if (r.sidecar) await startUnit(deps, r.sidecar.spec!, r.sidecar.name, r.sidecar.revision, opts.restartId)
        result.replaced.push({ old: r.app.name, new: spec.name })
        return { unit: spec.name, instanceId: spec.name, spec, startedAtMs }
      }),
    )
    const checks = await Promise.all(started.map((i) => healthy(docker, i, i.unit, opts)))
    const bad = checks.filter((c) => !c.ok)
    if (bad.length) Object.assign(result, { ok: false, error: bad.map((b) => b.detail).join('; ') })
    return result
  }

  const taken = takenPorts(all)
  const items: Replacement[] = []
  for (const r of replicas) items.push(await replacementFor(deps, r, r.app.spec!, r.sidecar?.spec ?? undefined, taken, env))
  return replaceInBatches(deps, items, { ...opts, strategy: opts.strategy, revision: replicas[0]?.app.revision ?? 0, deploymentId: opts.restartId })
}
