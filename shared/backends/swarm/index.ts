import type Docker from 'dockerode'
import { errorMessage as message } from '../../errors.ts'
import type { Config } from '../../config.ts'
import { withTimeout } from '../../timeout.ts'
import { createDemuxer, dockerClient, managedNetwork } from '../compose/client.ts'
import {
  LABELS,
  type ApplyOptions,
  type Backend,
  type LogLine,
  type LogOptions,
  type Plan,
  type RestartAppOptions,
  type RestartAppResult,
  type RestartStrategy,
  type Unit,
  type UnitResult,
  type UnitRole,
  type UnitSpec,
  type UnitState,
} from '../types.ts'
import { freePort } from '../compose/rolling.ts'
import { DIGEST_PREFIX, secretDigest, sha256Hex } from '../secrets.ts'
import { ALT_PORTS_LABEL, KIND_LABEL, PORT_SET_LABEL, SPECS_LABEL, serviceNameOf, serviceSpec, unitNameOf, updateConfig, type ServiceSpecInput } from './spec.ts'

const PROBE_TIMEOUT_MS = 2000
/** On a Swarm secret: the service it belongs to, and the secret's name in the spec. */
const SERVICE_LABEL = 'bannou.service'
const SECRET_KEY_LABEL = 'bannou.secret-key'
const UPDATE_POLL_MS = 250
const START_TIMEOUT_MS = 120_000
const NO_UPDATE_AFTER_MS = 3_000
const code = (e: unknown) => (e as { statusCode?: number })?.statusCode

interface SwarmService {
  ID: string
  Version: { Index: number }
  CreatedAt: string
  Spec: Docker.CreateServiceOptions & { Labels: Record<string, string>; TaskTemplate: { ForceUpdate?: number; ContainerSpec: { Env?: string[]; Image: string; StopGracePeriod?: number } } }
  UpdateStatus?: { State: string; Message?: string; StartedAt?: string }
}

interface SwarmTask {
  ID: string
  ServiceID: string
  Slot?: number
  DesiredState: string
  CreatedAt: string
  Status: { State: string; Message?: string; Err?: string; ContainerStatus?: { ContainerID?: string } }
}

/** `starting` = the container runs and its health check has not passed yet: running, like a fresh compose container. */
const taskState = (s: string): UnitState =>
  s === 'running' || s === 'starting' ? 'running' : ['new', 'pending', 'assigned', 'accepted', 'ready', 'preparing', 'starting'].includes(s) ? 'created' : s === 'remove' ? 'removing' : 'exited'

const byReplica = (a: UnitSpec, b: UnitSpec) => a.replica - b.replica
const specsOf = (s: SwarmService): UnitSpec[] => {
  try {
    return (JSON.parse(s.Spec.Labels[SPECS_LABEL] ?? '[]') as UnitSpec[]).sort(byReplica)
  } catch {
    return []
  }
}
const altPortsOf = (s: SwarmService): number[] => {
  try {
    return JSON.parse(s.Spec.Labels[ALT_PORTS_LABEL] ?? '[]') as number[]
  } catch {
    return []
  }
}

/**
 * The Swarm backend: plan units as Swarm services through the Engine API (dockerode), with
 * update_config/rollback_config from the restart strategy, so scaling and rolling updates are
 * the engine's own. Requires the engine to be a swarm manager.
 */
export function createSwarmBackend(config: Config, docker: Docker = dockerClient(config.dockerHost, config.dockerTlsCertPath)): Backend {
  const hostNet = config.deploy.network === 'host'
  const labelFilter = (env?: string) => ({ label: [`${LABELS.managed}=true`, ...(env ? [`${LABELS.environment}=${env}`] : [])] })
  const services = async (env?: string) => (await docker.listServices({ filters: labelFilter(env) })) as unknown as SwarmService[]
  const inspect = async (name: string) =>
    (await docker
      .getService(name)
      .inspect()
      .catch((e) => (code(e) === 404 ? null : Promise.reject(e)))) as SwarmService | null

  const managed = managedNetwork(docker, config.deploy.network, 'overlay', config.deploy.subnet)
  const ensureNetwork = managed.ensure

  /**
   * Alternate host ports of an app group (kept per replica across updates, fresh ones for new
   * replicas) and the port set an update switches to, so each slot's replacement can start
   * beside its predecessor. Undefined where ports are not shared (other networks, single units).
   */
  async function portPlan(current: SwarmService | null, specs: UnitSpec[]): Promise<ServiceSpecInput['ports']> {
    if (!hostNet || specs[0]?.role !== 'app') return undefined
    const sorted = [...specs].sort(byReplica)
    const prevAlt = current ? altPortsOf(current) : []
    const keep = new Map((current ? specsOf(current) : []).map((x, i) => [x.replica, prevAlt[i]]))
    const taken = new Set((await units()).flatMap((u) => [...(u.spec?.hostPorts ?? []), ...(u.reservedPorts ?? [])]))
    const primaries = new Set(sorted.flatMap((x) => x.hostPorts))
    for (const p of primaries) taken.add(p)
    const alt: number[] = []
    for (const x of sorted) {
      const k = keep.get(x.replica)
      alt.push(k && !primaries.has(k) ? k : await freePort(config, taken))
    }
    // The running tasks use the current set (a service without the label: its specs' ports).
    const set = current && current.Spec.Labels[PORT_SET_LABEL] !== '1' ? 1 : 0
    return { alt, set }
  }

  /**
   * Swarm secrets for a service's secret values: one per value, named after the service, the
   * key and the value's digest (a new value = a new secret; the spec points at it), labelled
   * with the service so they go with it. A spec read back from labels only knows digests:
   * then the secret must still exist.
   */
  async function ensureSecrets(name: string, spec: UnitSpec): Promise<NonNullable<ServiceSpecInput['secrets']>> {
    const refs: NonNullable<ServiceSpecInput['secrets']> = []
    for (const [key, value] of Object.entries(spec.secrets ?? {}).sort(([a], [b]) => a.localeCompare(b))) {
      const secretName = `${name.slice(0, 32)}-${key.toLowerCase().replace(/[^a-z0-9_.-]/g, '-').slice(0, 16)}-${sha256Hex(`${name}\0${secretDigest(value)}`).slice(0, 12)}`
      const existing = ((await docker.listSecrets({ filters: { name: [secretName] } })) as unknown as { ID: string; Spec: { Name: string } }[]).find((x) => x.Spec.Name === secretName)
      let id = existing?.ID
      if (!id) {
        if (value.startsWith(DIGEST_PREFIX)) throw new Error(`secret ${key} of ${name}: Swarm secret ${secretName} is gone and only its digest is known; deploy with the value again`)
        const labels = { [LABELS.managed]: 'true', [LABELS.environment]: spec.environment, [LABELS.app]: spec.app, [SERVICE_LABEL]: name, [SECRET_KEY_LABEL]: key }
        id = ((await docker.createSecret({ Name: secretName, Labels: labels, Data: Buffer.from(value, 'utf8').toString('base64') })) as { id: string }).id
      }
      refs.push({ SecretID: id, SecretName: secretName, File: { Name: key, UID: '0', GID: '0', Mode: 0o444 } })
    }
    return refs
  }

  /** Secrets of a service that its current spec no longer uses (after an update), or all of them (after removal). */
  async function pruneSecrets(name: string, keep: string[] = []) {
    const list = (await docker.listSecrets({ filters: { label: [`${SERVICE_LABEL}=${name}`] } })) as unknown as { ID: string; Spec: { Name: string } }[]
    // A secret still mounted by a task that is shutting down cannot go yet; the next prune or the removal takes it.
    await Promise.all(list.filter((x) => !keep.includes(x.Spec.Name)).map((x) => docker.getSecret(x.ID).remove().catch(() => undefined)))
  }

  /** The service spec for `specs`, switching the port set when the service exists. */
  async function buildSpec(name: string, specs: UnitSpec[], current: SwarmService | null, extra: Omit<ServiceSpecInput, 'config' | 'name' | 'specs' | 'ports'>) {
    const first = [...specs].sort(byReplica)[0]!
    return serviceSpec({ config, name, specs, ports: await portPlan(current, specs), secrets: await ensureSecrets(name, first), ...extra })
  }
  const secretNamesOf = (spec: { TaskTemplate?: { ContainerSpec?: { Secrets?: { SecretName: string }[] } } }) => (spec.TaskTemplate?.ContainerSpec?.Secrets ?? []).map((x) => x.SecretName)

  /** Creates or updates a service so that it runs exactly `specs` (removes it when empty). */
  async function converge(name: string, specs: UnitSpec[], opts: { revision: number; deploymentId: string; strategy?: RestartStrategy }) {
    const current = await settled(name)
    if (specs.length === 0) {
      if (current) await docker.getService(current.ID).remove()
      await pruneSecrets(name)
      return
    }
    await ensureNetwork()
    if (current && JSON.stringify(specsOf(current)) === JSON.stringify([...specs].sort(byReplica))) return
    const spec = await buildSpec(name, specs, current, { revision: opts.revision, deploymentId: opts.deploymentId, strategy: opts.strategy ?? 'graceful' })
    if (!current) {
      await docker.createService(spec)
    } else {
      await docker.getService(current.ID).update({ version: current.Version.Index, ...spec })
      const done = await awaitUpdate(name, Date.now() + START_TIMEOUT_MS, current.UpdateStatus)
      if (done.state !== 'completed') throw new Error(`swarm update of ${name} ${done.state}: ${done.message}`)
    }
    await awaitStarted(name, specs.length, Date.now() + START_TIMEOUT_MS)
    if (current) await pruneSecrets(name, secretNamesOf(spec as never))
  }

  /** Like a compose apply, returns once every task's container has started (or throws with the task's error). */
  async function awaitStarted(name: string, replicas: number, deadlineMs: number) {
    while (true) {
      const s = await inspect(name)
      if (!s) throw new Error(`service ${name} disappeared`)
      const tasks = (await tasksOf(s.ID)).filter((t) => t.DesiredState === 'running')
      const failed = tasks.find((t) => ['failed', 'rejected'].includes(t.Status.State))
      if (failed) throw new Error(`task ${failed.ID} of ${name} ${failed.Status.State}: ${failed.Status.Err ?? failed.Status.Message ?? ''}`)
      if (tasks.filter((t) => t.Status.State === 'running' || t.Status.State === 'starting').length >= replicas) return
      if (Date.now() > deadlineMs) throw new Error(`tasks of ${name} did not start in time`)
      await new Promise((r) => setTimeout(r, UPDATE_POLL_MS))
    }
  }

  /**
   * Waits until the service update issued after `before` finished (completed, rolled back or
   * paused). UpdateStatus still shows the previous update until Swarm starts the new one.
   */
  async function awaitUpdate(name: string, deadlineMs: number, before: SwarmService['UpdateStatus']): Promise<{ state: string; message: string }> {
    const t0 = Date.now()
    while (true) {
      const s = await inspect(name)
      const st = s?.UpdateStatus
      if (!s) return { state: 'missing', message: `service ${name} disappeared` }
      const fresh = st && st.StartedAt !== before?.StartedAt
      if (fresh && ['completed', 'rollback_completed', 'paused', 'rollback_paused'].includes(st.State)) return { state: st.State, message: st.Message ?? '' }
      // Changes that do not touch the task template (replicas, service labels) start no update at all.
      if (!fresh && Date.now() - t0 > NO_UPDATE_AFTER_MS && (await runningTasks(s.ID)).length >= (s.Spec.Mode?.Replicated?.Replicas ?? 0)) return { state: 'completed', message: 'no rolling update was needed' }
      if (Date.now() > deadlineMs) return { state: 'timeout', message: `update of ${name} did not finish in time (${st?.State ?? 'unknown'})` }
      await new Promise((r) => setTimeout(r, UPDATE_POLL_MS))
    }
  }

  const tasksOf = async (serviceId: string) => (await docker.listTasks({ filters: { service: [serviceId] } })) as SwarmTask[]
  const runningTasks = async (serviceId: string) => (await tasksOf(serviceId)).filter((t) => t.DesiredState === 'running' && t.Status.State === 'running')

  /**
   * The service once its last update has settled: not rolling any more, and no task it
   * replaced still running. On the host network a new update switches back to the port set
   * those old tasks may still hold during their shutdown grace; starting it earlier made its
   * tasks fail to bind and Swarm roll the update back.
   */
  async function settled(name: string): Promise<SwarmService | null> {
    const until = Date.now() + START_TIMEOUT_MS
    for (let s = await inspect(name); ; s = await inspect(name)) {
      if (!s) return null
      const rolling = ['updating', 'rollback_started'].includes(s.UpdateStatus?.State ?? '')
      const leaving = (await tasksOf(s.ID)).some((t) => t.DesiredState !== 'running' && ['running', 'starting'].includes(t.Status.State))
      if ((!rolling && !leaving) || Date.now() > until) return s
      await new Promise((r) => setTimeout(r, UPDATE_POLL_MS))
    }
  }

  async function units(env?: string): Promise<Unit[]> {
    const out: Unit[] = []
    for (const s of await services(env)) {
      const l = s.Spec.Labels
      const kind = l[KIND_LABEL] ?? 'unit'
      const specs = specsOf(s)
      const tasks = (await tasksOf(s.ID)).filter((t) => t.DesiredState === 'running' || t.DesiredState === 'ready')
      const alt = altPortsOf(s)
      const bySlot = new Map<number, SwarmTask>()
      for (const t of tasks.sort((a, b) => a.CreatedAt.localeCompare(b.CreatedAt))) bySlot.set(t.Slot ?? 1, t)
      for (const [slot, t] of [...bySlot.entries()].sort((a, b) => a[0] - b[0])) {
        out.push({
          id: t.ID,
          name: unitNameOf(s.Spec.Name!, kind, slot),
          environment: l[LABELS.environment] ?? '',
          app: l[LABELS.app] ?? '',
          role: (l[LABELS.role] ?? 'app') as UnitRole,
          replica: specs[slot - 1]?.replica ?? slot,
          revision: Number(l[LABELS.revision] ?? 0),
          image: s.Spec.TaskTemplate.ContainerSpec.Image,
          state: taskState(t.Status.State),
          status: `${t.Status.State}${t.Status.Err ? `: ${t.Status.Err}` : ''}`,
          spec: specs[slot - 1] ?? null,
          createdAt: t.CreatedAt,
          ...(alt[slot - 1] ? { reservedPorts: [alt[slot - 1]!] } : {}),
        })
      }
    }
    return out
  }

  return {
    name: 'swarm',
    capabilities: { liveTopology: 'full', scaling: true, rollingUpdate: true, secrets: 'native', volumes: true, networks: true },

    async probe() {
      try {
        const info = (await withTimeout(docker.info(), PROBE_TIMEOUT_MS, `Docker engine at ${config.dockerHost}`)) as { ServerVersion: string; Swarm?: { LocalNodeState?: string; ControlAvailable?: boolean; NodeID?: string } }
        const sw = info.Swarm ?? {}
        if (sw.LocalNodeState !== 'active') return { available: false, version: `Docker ${info.ServerVersion}`, detail: `the engine at ${config.dockerHost} is not in swarm mode (LocalNodeState=${sw.LocalNodeState ?? 'unknown'})` }
        if (!sw.ControlAvailable) return { available: false, version: `Docker ${info.ServerVersion}`, detail: `the engine at ${config.dockerHost} is a swarm worker, not a manager` }
        return { available: true, version: `Docker ${info.ServerVersion} (swarm manager ${sw.NodeID})`, detail: `swarm manager at ${config.dockerHost}` }
      } catch (e) {
        return { available: false, detail: `Docker engine at ${config.dockerHost} is unreachable: ${message(e)}` }
      }
    },

    async apply(plan: Plan, opts: ApplyOptions) {
      const existing = await services(plan.environment)
      const byService = new Map<string, { specs: Map<string, UnitSpec>; actions: Plan['actions'] }>()
      for (const a of plan.actions) {
        if (a.action === 'unchanged') continue
        const role = a.role
        const svc = a.spec ? serviceNameOf(a.spec) : role === 'app' ? `bannou-${plan.environment}-${a.app}` : a.unit
        if (!byService.has(svc)) {
          const cur = existing.find((s) => s.Spec.Name === svc)
          byService.set(svc, { specs: new Map((cur ? specsOf(cur) : []).map((s) => [s.name, s])), actions: [] })
        }
        const g = byService.get(svc)!
        g.actions.push(a)
        if (a.action === 'remove') g.specs.delete(a.unit)
        else if (a.spec) g.specs.set(a.unit, a.spec)
      }
      const results: UnitResult[] = []
      await Promise.all(
        [...byService.entries()].map(async ([svc, g]) => {
          try {
            for (const a of g.actions) opts.onProgress?.(a.unit, 'creating')
            await converge(svc, [...g.specs.values()], opts)
            for (const a of g.actions) {
              opts.onProgress?.(a.unit, a.action === 'remove' ? 'removed' : 'started')
              results.push({ unit: a.unit, action: a.action, ok: true })
            }
          } catch (e) {
            for (const a of g.actions) {
              opts.onProgress?.(a.unit, 'failed', message(e))
              results.push({ unit: a.unit, action: a.action, ok: false, error: message(e) })
            }
          }
        }),
      )
      return { results }
    },

    async restart(unitNames) {
      // Swarm restarts failed tasks itself; a forced update re-creates the named units' services.
      const names = [...new Set((await units()).filter((u) => unitNames.includes(u.name)).map((u) => (u.role === 'app' ? `bannou-${u.environment}-${u.app}` : u.name)))]
      for (const n of names) {
        const s = await inspect(n)
        if (!s) continue
        const spec = await buildSpec(n, specsOf(s), s, { revision: Number(s.Spec.Labels[LABELS.revision] ?? 0), deploymentId: s.Spec.Labels[LABELS.deployment] ?? 'restart', forceUpdate: (s.Spec.TaskTemplate.ForceUpdate ?? 0) + 1 })
        await docker.getService(s.ID).update({ version: s.Version.Index, ...spec })
      }
      return { restarted: unitNames }
    },

    /** `app` is the service name (`bannou-{env}-{node}`); new replicas get fresh host ports. */
    async scale(app, replicas) {
      const s = await settled(app)
      if (!s) throw new Error(`no swarm service ${app}`)
      const specs = specsOf(s)
      if (specs.length === 0) throw new Error(`service ${app} carries no unit specs`)
      const taken = new Set([...(await units()).flatMap((u) => [...(u.spec?.hostPorts ?? []), ...(u.reservedPorts ?? [])]), ...altPortsOf(s)])
      const next = specs.slice(0, replicas)
      for (let r = specs.length + 1; r <= replicas; r++) {
        const base = specs[specs.length - 1]!
        const port = hostNet ? await freePort(config, taken) : Number(base.env.PORT ?? 80)
        const name = `${app}-${r}`
        next.push({ ...base, name, replica: r, env: { ...base.env, PORT: String(port), BANNOU_InstanceName: name }, hostPorts: hostNet ? [port] : base.hostPorts })
      }
      const spec = await buildSpec(app, next, s, { revision: Number(s.Spec.Labels[LABELS.revision] ?? 0), deploymentId: s.Spec.Labels[LABELS.deployment] ?? 'scale' })
      await docker.getService(s.ID).update({ version: s.Version.Index, ...spec })
      const done = await awaitUpdate(app, Date.now() + START_TIMEOUT_MS, s.UpdateStatus)
      if (done.state !== 'completed') throw new Error(`swarm update of ${app} ${done.state}: ${done.message}`)
      await awaitStarted(app, replicas, Date.now() + START_TIMEOUT_MS)
    },

    status: (env) => units(env),

    async *logs(unit: string, opts: LogOptions): AsyncIterable<LogLine> {
      const all = await units()
      const u = all.find((x) => x.name === unit)
      const svc = u ? (u.role === 'app' ? `bannou-${u.environment}-${u.app}` : u.name) : unit
      const buf = (await docker.getService(svc).logs({ stdout: true, stderr: true, follow: false, tail: opts.tail ?? 100, ...(opts.since ? { since: opts.since } : {}) })) as unknown as Buffer
      const lines: LogLine[] = []
      createDemuxer((stream, text) => {
        for (const line of text.split('\n')) if (line) lines.push({ unit, stream, line })
      })(Buffer.from(buf))
      yield* lines
    },

    async remove(env) {
      const list = await services(env)
      const names = (await units(env)).map((u) => u.name)
      await Promise.all(list.map((s) => docker.getService(s.ID).remove().catch((e) => (code(e) === 404 ? undefined : Promise.reject(e)))))
      const secrets = (await docker.listSecrets({ filters: labelFilter(env) })) as { ID: string }[]
      await Promise.all(secrets.map((s) => docker.getSecret(s.ID).remove().catch(() => undefined)))
      return names
    },

    async prune() {
      // Swarm garbage-collects task containers itself; nothing of ours lingers.
      return { containers: [], networks: [], images: [], volumes: [], reclaimedBytes: 0 }
    },

    async imageIds(images) {
      const out: Record<string, string> = {}
      for (const i of [...new Set(images)]) out[i] = await docker.getImage(i).inspect().then((x) => x.Id).catch(() => 'unknown')
      return out
    },

    addressOf: async () => (hostNet ? '127.0.0.1' : null),
    close: async () => {},

    async restartApp(environment: string, app: string, opts: RestartAppOptions): Promise<RestartAppResult> {
      const name = `bannou-${environment}-${app}`
      // An update still rolling (a deploy's, a scale's) finishes first: a second one would cut it short.
      const s = await settled(name)
      if (!s) return { ok: false, replaced: [], kept: [], error: `no swarm service ${name}` }
      const before = await runningTasks(s.ID)
      const specs = specsOf(s).map((x) => ({ ...x, env: { ...x.env, ...(opts.env ?? {}) } }))
      const grace = opts.strategy === 'graceful' ? opts.graceSeconds : 0
      const spec = await buildSpec(name, specs, s, {
        revision: Number(s.Spec.Labels[LABELS.revision] ?? 0),
        deploymentId: opts.restartId,
        strategy: opts.strategy,
        maxParallel: opts.maxParallel,
        graceSeconds: grace,
        forceUpdate: (s.Spec.TaskTemplate.ForceUpdate ?? 0) + 1,
      })
      const monitor = opts.strategy === 'graceful' ? 2 : 1
      const startFirst = (spec as { UpdateConfig?: { Order?: string } }).UpdateConfig?.Order === 'start-first'
      // A rollback puts the previous tasks back the same careful way (start-first where possible).
      Object.assign(spec, { UpdateConfig: updateConfig(opts.strategy, opts.maxParallel, monitor, startFirst), RollbackConfig: updateConfig('graceful', opts.maxParallel, 1, startFirst) })
      await docker.getService(s.ID).update({ version: s.Version.Index, ...spec })
      opts.onProgress?.(`swarm update of ${name} started (${opts.strategy})`)
      const done = await awaitUpdate(name, Date.now() + 10 * 60_000, s.UpdateStatus)
      // Swarm calls an update complete when the last task started; we wait until every task runs (passed its health check).
      const deadline = Date.now() + 120_000
      while (done.state === 'completed' && (await runningTasks(s.ID)).length < specs.length && Date.now() < deadline) await new Promise((r) => setTimeout(r, UPDATE_POLL_MS))
      const after = await runningTasks(s.ID)
      const ok = done.state === 'completed' && after.length >= specs.length
      return {
        ok,
        replaced: ok ? before.map((t) => ({ old: t.ID, new: after.find((x) => x.Slot === t.Slot)?.ID ?? '' })) : [],
        kept: ok ? [] : before.map((t) => unitNameOf(name, 'app-group', t.Slot ?? 1)),
        ...(ok ? {} : { error: `swarm update ${done.state}: ${done.message}` }),
      }
    },
  }
}
