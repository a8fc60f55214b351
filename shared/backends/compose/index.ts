import type Docker from 'dockerode'
import { errorMessage as message } from '../../errors.ts'
import type { Config } from '../../config.ts'
import { withTimeout } from '../../timeout.ts'
import {
  BackendUnavailableError,
  LABELS,
  type ApplyOptions,
  type Backend,
  type LogLine,
  type LogOptions,
  type Plan,
  type PlanAction,
  type PruneResult,
  type Unit,
  type UnitResult,
  type UnitRole,
  type UnitSpec,
  type UnitState,
} from '../types.ts'
import { createDemuxer, dockerClient, managedNetwork } from './client.ts'
import { containerOptions } from './container-options.ts'
import { freePort, withSecretValues, replaceInBatches, replacementFor, rollingRestart, takenPorts, type Replacement } from './rolling.ts'
import { replicaSpecs } from './scale.ts'

const PROBE_TIMEOUT_MS = 2000

const isMissing = (e: unknown) => (e as { statusCode?: number })?.statusCode === 404

function unitFromSummary(c: Docker.ContainerInfo): Unit {
  const l = c.Labels ?? {}
  let spec: UnitSpec | null = null
  try {
    spec = l[LABELS.spec] ? (JSON.parse(l[LABELS.spec]!) as UnitSpec) : null
  } catch {
    spec = null
  }
  return {
    id: c.Id,
    name: (c.Names[0] ?? c.Id).replace(/^\//, ''),
    environment: l[LABELS.environment] ?? '',
    app: l[LABELS.app] ?? '',
    role: (l[LABELS.role] ?? 'app') as UnitRole,
    replica: Number(l[LABELS.replica] ?? 1),
    revision: Number(l[LABELS.revision] ?? 0),
    image: c.Image,
    state: (c.State ?? 'unknown') as UnitState,
    status: c.Status ?? '',
    spec,
    createdAt: new Date(c.Created * 1000).toISOString(),
  }
}

/**
 * The "compose" backend: one Docker engine through its Engine API (dockerode, no CLI).
 * Containers are created without restart policies or depends_on; ordering is the engine's job.
 */
export function createComposeBackend(config: Config, docker: Docker = dockerClient(config.dockerHost, config.dockerTlsCertPath)): Backend {
  const network = config.deploy.network
  const hostNetwork = network === 'host'
  const managedFilter = (env?: string) => ({ label: [`${LABELS.managed}=true`, ...(env ? [`${LABELS.environment}=${env}`] : [])] })

  const list = async (env?: string) => (await docker.listContainers({ all: true, filters: managedFilter(env) })).map(unitFromSummary)

  const ensureImage = async (image: string, onProgress?: ApplyOptions['onProgress'], unit?: string) => {
    try {
      await docker.getImage(image).inspect()
      return
    } catch (e) {
      if (!isMissing(e)) throw e
    }
    onProgress?.(unit ?? image, 'pulling', image)
    const stream = await docker.pull(image)
    await new Promise<void>((resolve, reject) => docker.modem.followProgress(stream, (err) => (err ? reject(err) : resolve())))
  }

  const managed = managedNetwork(docker, network, 'bridge', config.deploy.subnet)
  const ensureNetwork = managed.ensure

  const removeContainer = async (name: string, graceSeconds: number, removeVolumes = false) => {
    const c = docker.getContainer(name)
    try {
      await c.stop({ t: graceSeconds })
    } catch (e) {
      const code = (e as { statusCode?: number }).statusCode
      if (code !== 304 && code !== 404) throw e
    }
    try {
      await c.remove({ force: true, v: removeVolumes })
    } catch (e) {
      if (!isMissing(e) && (e as { statusCode?: number }).statusCode !== 409) throw e
    }
  }

  // One image check per image per apply: 20 replicas of one image need one inspect, not 20
  // (the engine serialises much of its work, so every call saved shortens a parallel apply).
  const imageChecks = new WeakMap<ApplyOptions, Map<string, Promise<void>>>()
  const imageReady = (spec: UnitSpec, opts: ApplyOptions) => {
    let checks = imageChecks.get(opts)
    if (!checks) imageChecks.set(opts, (checks = new Map()))
    let ready = checks.get(spec.image)
    if (!ready) checks.set(spec.image, (ready = ensureImage(spec.image, opts.onProgress, spec.name)))
    return ready
  }

  const createAndStart = async (spec: UnitSpec, opts: ApplyOptions) => {
    await imageReady(spec, opts)
    await ensureNetwork()
    opts.onProgress?.(spec.name, 'creating')
    const container = await docker.createContainer(
      containerOptions(spec, { name: spec.name, network, revision: opts.revision, deploymentId: opts.deploymentId }),
    )
    await container.start()
    opts.onProgress?.(spec.name, 'started')
  }

  const applyOne = async (a: PlanAction, opts: ApplyOptions): Promise<UnitResult> => {
    try {
      if (a.action === 'remove' || a.action === 'recreate') {
        await removeContainer(a.unit, config.deploy.stopGraceSeconds)
        if (a.action === 'remove') opts.onProgress?.(a.unit, 'removed')
      }
      if ((a.action === 'create' || a.action === 'recreate') && a.spec) await createAndStart(a.spec, opts)
      return { unit: a.unit, action: a.action, ok: true }
    } catch (e) {
      opts.onProgress?.(a.unit, 'failed', message(e))
      return { unit: a.unit, action: a.action, ok: false, error: message(e) }
    }
  }

  /**
   * Topology changes in graceful/immediate mode: running apps that must be recreated are
   * replaced by the rolling-restart code (with their sidecars, which the engine hands over in
   * the same stage); everything else is applied as usual, sidecars after the apps.
   */
  const applyRolling = async (actions: PlanAction[], opts: ApplyOptions, strategy: 'graceful' | 'immediate'): Promise<UnitResult[]> => {
    const all = await list()
    const byName = new Map(all.map((u) => [u.name, u]))
    const sidecarAction = new Map(actions.filter((a) => a.role === 'sidecar').map((a) => [a.unit, a]))
    const taken = takenPorts(all)
    const items: Replacement[] = []
    const rolled = new Set<PlanAction>()
    for (const a of actions) {
      const old = byName.get(a.unit)
      if (a.action !== 'recreate' || a.role !== 'app' || !a.spec || old?.state !== 'running' || !old.spec) continue
      const oldSide = byName.get(`${a.unit}-dapr`)
      const sideAct = sidecarAction.get(`${a.unit}-dapr`)
      // Roll only when the sidecar stays a sidecar (or there is none before and after).
      const nextSide = oldSide?.spec && (!sideAct || (sideAct.action === 'recreate' && sideAct.spec)) ? (sideAct?.spec ?? oldSide.spec) : undefined
      if (oldSide ? !nextSide : !!sideAct) continue
      items.push(await replacementFor({ docker, config, list }, { app: old, ...(oldSide ? { sidecar: oldSide } : {}) }, a.spec, nextSide, taken))
      rolled.add(a)
      if (sideAct) rolled.add(sideAct)
    }
    const rest = actions.filter((a) => !rolled.has(a))
    const results = await Promise.all(rest.filter((a) => a.role !== 'sidecar').map((a) => applyOne(a, opts)))
    results.push(...(await Promise.all(rest.filter((a) => a.role === 'sidecar').map((a) => applyOne(a, opts)))))
    if (items.length === 0) return results
    const r = await replaceInBatches({ docker, config, list }, items, {
      strategy,
      graceSeconds: config.deploy.stopGraceSeconds,
      maxParallel: 1,
      revision: opts.revision,
      deploymentId: opts.deploymentId,
      waitHealthy: opts.waitHealthy ?? (async () => ({ ok: true, detail: 'no health wait given' })),
      onUnit: (unit, state) => opts.onProgress?.(unit, state),
    })
    const replaced = new Set(r.replaced.map((x) => x.old))
    for (const a of rolled) {
      const app = a.role === 'sidecar' ? a.unit.replace(/-dapr$/, '') : a.unit
      const ok = replaced.has(app)
      if (!ok) opts.onProgress?.(a.unit, 'failed', r.error ?? 'the rollout stopped before this unit')
      results.push({ unit: a.unit, action: a.action, ok, ...(ok ? {} : { error: r.error ?? 'the rollout stopped before this unit' }) })
    }
    return results
  }

  return {
    name: 'compose',
    // Truthful for this driver: the reference's compose column lacks scaling and rolling updates; we implement both.
    capabilities: { liveTopology: 'limited', scaling: true, rollingUpdate: true, secrets: 'env-only', volumes: true, networks: true },

    async probe() {
      try {
        const v = await withTimeout(docker.version(), PROBE_TIMEOUT_MS, `Docker engine at ${config.dockerHost}`)
        return { available: true, version: `Docker ${v.Version} (API ${v.ApiVersion})`, detail: `Docker engine at ${config.dockerHost}` }
      } catch (e) {
        return { available: false, detail: `Docker engine at ${config.dockerHost} is unreachable: ${message(e)}` }
      }
    },

    async apply(plan: Plan, opts: ApplyOptions) {
      const actions = plan.actions.filter((a) => a.action !== 'unchanged')
      if (opts.strategy !== 'graceful' && opts.strategy !== 'immediate') return { results: await Promise.all(actions.map((a) => applyOne(a, opts))) }
      return { results: await applyRolling(actions, opts, opts.strategy) }
    },

    async restart(units, strategy) {
      const done: string[] = []
      await Promise.all(
        units.map(async (u) => {
          const c = docker.getContainer(u)
          if (strategy === 'restart') await c.restart({ t: config.deploy.stopGraceSeconds })
          else await c.start().catch((e) => ((e as { statusCode?: number }).statusCode === 304 ? undefined : Promise.reject(e)))
          done.push(u)
        }),
      )
      return { restarted: done }
    },

    /**
     * `app` is `bannou-{env}-{node}` (as on swarm). New replicas copy the highest replica's
     * specs with their own names and host ports; removal takes the highest replicas first.
     * The preset is not changed: the next deploy of the environment returns to its count.
     */
    async scale(app, replicas) {
      if (!Number.isInteger(replicas) || replicas < 0) throw new Error(`replicas must be a whole number ≥ 0, got ${replicas}`)
      const all = await list()
      const mine = all.filter((u) => u.role === 'app' && `bannou-${u.environment}-${u.app}` === app && u.spec).sort((a, b) => a.replica - b.replica)
      const top = mine[mine.length - 1]
      if (!top) throw new Error(`no running replicas of ${app} to scale`)
      const sidecarOf = (u: Unit) => all.find((s) => s.role === 'sidecar' && s.name === `${u.name}-dapr` && s.spec)
      for (const u of mine.slice(replicas).reverse()) {
        const side = sidecarOf(u)
        if (side) await removeContainer(side.name, config.deploy.stopGraceSeconds)
        await removeContainer(u.name, config.deploy.stopGraceSeconds)
      }
      const topSide = sidecarOf(top)
      const base = { app: await withSecretValues(docker, top.name, top.spec!), sidecar: topSide?.spec ? await withSecretValues(docker, topSide.name, topSide.spec) : undefined }
      const taken = takenPorts(all)
      const opts: ApplyOptions = { revision: top.revision, deploymentId: `scale-${Date.now()}` }
      for (let r = top.replica + 1; r <= top.replica + (replicas - mine.length); r++) {
        const ports = hostNetwork ? { app: await freePort(config, taken), ...(base.sidecar ? { daprHttp: await freePort(config, taken), daprGrpc: await freePort(config, taken) } : {}) } : null
        const next = replicaSpecs(base, app, r, ports)
        await createAndStart(next.app, opts)
        if (next.sidecar) await createAndStart(next.sidecar, opts)
      }
    },

    status: (env) => list(env),

    async *logs(unit: string, opts: LogOptions): AsyncIterable<LogLine> {
      const c = docker.getContainer(unit)
      const base = { stdout: true, stderr: true, tail: opts.tail ?? 100, ...(opts.since ? { since: opts.since } : {}) }
      const queue: LogLine[] = []
      const pushText = (stream: 'stdout' | 'stderr', text: string) => {
        for (const line of text.split('\n')) if (line !== '') queue.push({ unit, stream, line })
      }
      if (!opts.follow) {
        const buf = (await c.logs({ ...base, follow: false })) as unknown as Buffer
        createDemuxer(pushText)(Buffer.from(buf))
        yield* queue
        return
      }
      const stream = (await c.logs({ ...base, follow: true })) as NodeJS.ReadableStream & { destroy(): void }
      let wake: (() => void) | undefined
      let ended = false
      const demux = createDemuxer((s, t) => {
        pushText(s, t)
        wake?.()
      })
      stream.on('data', (d: Buffer) => demux(d))
      stream.on('end', () => ((ended = true), wake?.()))
      stream.on('error', () => ((ended = true), wake?.()))
      const onAbort = () => {
        ended = true
        stream.destroy()
        wake?.()
      }
      opts.signal?.addEventListener('abort', onAbort)
      try {
        while (true) {
          while (queue.length) yield queue.shift()!
          if (ended) return
          await new Promise<void>((r) => (wake = r))
          wake = undefined
        }
      } finally {
        opts.signal?.removeEventListener('abort', onAbort)
        stream.destroy()
      }
    },

    async remove(env, opts) {
      const units = await list(env)
      // Sidecars and apps first, infrastructure last: the reverse of the start order.
      const order: UnitRole[] = ['sidecar', 'app', 'infrastructure']
      for (const role of order) {
        await Promise.all(units.filter((u) => u.role === role).map((u) => removeContainer(u.name, opts.graceSeconds, opts.removeVolumes)))
      }
      if (opts.removeVolumes) {
        const vols = await docker.listVolumes({ filters: managedFilter(env) })
        await Promise.all((vols.Volumes ?? []).map((v) => docker.getVolume(v.Name).remove().catch(() => undefined)))
      }
      return units.map((u) => u.name)
    },

    async prune({ dryRun }) {
      const result: PruneResult = { containers: [], networks: [], images: [], volumes: [], reclaimedBytes: 0 }
      const all = await docker.listContainers({ all: true, size: true, filters: managedFilter() })
      const stopped = all.filter((c) => c.State !== 'running' && c.State !== 'restarting' && c.State !== 'paused')
      result.containers = stopped.map((c) => c.Names[0]!.replace(/^\//, ''))
      result.reclaimedBytes += stopped.reduce((s, c) => s + ((c as { SizeRw?: number }).SizeRw ?? 0), 0)
      const remaining = all.filter((c) => !stopped.includes(c))
      const networks = await docker.listNetworks({ filters: { label: [`${LABELS.managed}=true`] } })
      const usedNetworks = new Set(remaining.flatMap((c) => Object.keys(c.NetworkSettings?.Networks ?? {})))
      const idleNetworks = networks.filter((n) => !usedNetworks.has(n.Name))
      result.networks = idleNetworks.map((n) => n.Name)
      const everyContainer = await docker.listContainers({ all: true })
      const usedImages = new Set(everyContainer.filter((c) => !stopped.some((s) => s.Id === c.Id)).map((c) => c.ImageID))
      const images = (await docker.listImages({ filters: { label: [`${LABELS.managed}=true`] } })).filter((i) => !usedImages.has(i.Id))
      result.images = images.map((i) => i.RepoTags?.[0] ?? i.Id)
      result.reclaimedBytes += images.reduce((s, i) => s + (i.Size ?? 0), 0)
      const vols = await docker.listVolumes({ filters: { label: [`${LABELS.managed}=true`], dangling: ['true'] } })
      result.volumes = (vols.Volumes ?? []).map((v) => v.Name)
      if (dryRun) return result
      await Promise.all(stopped.map((c) => docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined)))
      await Promise.all(idleNetworks.map((n) => docker.getNetwork(n.Id).remove().catch(() => undefined)))
      if (idleNetworks.some((n) => n.Name === network)) managed.forget()
      for (const i of images) await docker.getImage(i.Id).remove({ force: false }).catch(() => undefined)
      await Promise.all(result.volumes.map((v) => docker.getVolume(v).remove().catch(() => undefined)))
      return result
    },

    async imageIds(images) {
      const out: Record<string, string> = {}
      await Promise.all(
        [...new Set(images)].map(async (i) => {
          out[i] = await docker
            .getImage(i)
            .inspect()
            .then((x) => x.Id)
            .catch(() => 'unknown')
        }),
      )
      return out
    },

    async addressOf(unit) {
      if (hostNetwork) return '127.0.0.1'
      const info = await docker.getContainer(unit).inspect().catch(() => undefined)
      return info?.NetworkSettings.Networks[network]?.IPAddress || null
    },

    close: async () => {},

    restartApp: (environment, app, opts) => rollingRestart({ docker, config, list }, environment, app, opts),
  }
}

export { BackendUnavailableError }
