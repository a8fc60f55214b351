import * as v from 'valibot'
import type { ApplyOptions, Backend, NewInstance, Plan, PlanAction, RestartStrategy, UnitRole } from '../backends/types.ts'
import { selectBackend } from '../backends/registry.ts'
import type { Context } from '../context.ts'
import { badRequest, conflict, notFound } from '../errors.ts'
import { emit } from '../events/outbox.ts'
import { stamp, type LifecycleEvent, type OutboundEvent } from '../events/schemas.ts'
import { loadPresets } from '../presets/load.ts'
import { waitForHealthyHeartbeat } from '../restarts/health-wait.ts'
import { Preset, type ResolvedPreset } from '../presets/schema.ts'
import type { Command } from '../store/types.ts'
import { desiredState, type DesiredState, type InfraTarget } from './desired.ts'
import { serviceMapping } from './service-mapping.ts'
import { diffPlan, isNoop, subPlan } from './plan.ts'
import {
  acquireLease,
  commitRevisionCommands,
  findRevision,
  readEnvironment,
  readRun,
  releaseLease,
  renewLease,
  runCommand,
  saveRun,
  type DeploymentRecord,
  type EnvironmentState,
  type Revision,
} from './records.ts'
import { sidecarChecks, verifyByHeartbeat } from './verify.ts'

export type DeploySource = { kind: 'preset'; name: string } | { kind: 'topology'; topology: unknown } | { kind: 'revision'; number: number }

export interface DeployRequest {
  environment: string
  source: DeploySource
  dryRun: boolean
  autoRollback: boolean
  verifyTimeoutSeconds?: number
  requestedBy: string
  /** How running apps that change are replaced (topology `mode`); absent = force (stop, then start). */
  mode?: RestartStrategy
}

export type DeployStart =
  | { dryRun: true; environment: string; revision: number; preset: string; plan: Plan; infrastructure: InfraTarget[]; backend: string }
  | { dryRun: false; record: DeploymentRecord; done: Promise<DeploymentRecord> }

/** Deployments running in this process (for `wait` and for tests). */
const running = new Map<string, Promise<DeploymentRecord>>()
export const runningDeployment = (id: string) => running.get(id)

const LEASE_RENEW_MS = 10_000
const INFRA_POLL_MS = 500
const INFRA_CHECK_TIMEOUT_MS = 1500

/** Preset by name, inline topology (validated, 400 naming the field) or a stored revision. */
export async function resolvePreset(ctx: Context, env: string, source: DeploySource): Promise<ResolvedPreset> {
  if (source.kind === 'preset') {
    const { presets } = await loadPresets(ctx)
    const p = presets.find((x) => x.name === source.name)
    if (!p) throw badRequest(`Unknown preset "${source.name}".`, [{ field: 'preset', message: `unknown preset; known: ${presets.map((x) => x.name).join(', ')}` }])
    return p
  }
  if (source.kind === 'topology') {
    const r = v.safeParse(Preset, source.topology)
    if (!r.success) {
      const errors = r.issues.map((i) => ({ field: ['topology', ...(i.path?.map((p) => String(p.key)) ?? [])].join('.'), message: i.message }))
      throw badRequest(errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors)
    }
    const p = r.output
    return {
      name: p.name ?? 'inline',
      description: p.description ?? '',
      source: 'user',
      file: '(request body)',
      nodes: p.nodes.map((n) => ({ ...n, daprAppId: n.daprAppId ?? n.name })),
      infrastructure: p.infrastructure ?? {},
    }
  }
  const rev = await findRevision(ctx, env, source.number)
  if (!rev) throw notFound(`Environment "${env}" has no revision ${source.number}.`)
  return rev.preset
}

const orchestratorRedis = (ctx: Context) => {
  const c = ctx.config.redisConnection
  if (!c) return undefined
  const m = /^rediss?:\/\/(?:[^@]*@)?([^/?]+)/.exec(c)
  return m ? m[1] : c.split(',')[0]
}

async function computePlan(ctx: Context, backend: Backend, env: string, preset: ResolvedPreset, revision: number) {
  const existing = await backend.status()
  const desired = desiredState({
    environment: env,
    preset,
    deploy: ctx.config.deploy,
    keyPrefix: ctx.config.keyPrefix,
    orchestratorRedis: orchestratorRedis(ctx),
    existing,
  })
  const plan = diffPlan(env, revision, desired.units, existing.filter((u) => u.environment === env))
  return { desired, plan }
}

const lifecycle = (type: LifecycleEvent['type'], environment: string, data: Record<string, unknown>): OutboundEvent => ({
  kind: 'lifecycle',
  event: stamp({ type, source: 'orchestrator' as const, environment, data }) as LifecycleEvent,
})

/** register / update / unregister per service, from the app ids before and after. */
export function mappingEvents(before: Record<string, string>, after: Record<string, string>): OutboundEvent[] {
  const out: OutboundEvent[] = []
  const ev = (serviceName: string, appId: string, action: 'register' | 'update' | 'unregister'): OutboundEvent => ({
    kind: 'service-mapping',
    event: stamp({ serviceName, appId, action }) as OutboundEvent['event'] & { action: typeof action },
  } as OutboundEvent)
  for (const [s, appId] of Object.entries(after)) {
    if (!(s in before)) out.push(ev(s, appId, 'register'))
    else if (before[s] !== appId) out.push(ev(s, appId, 'update'))
  }
  for (const [s, appId] of Object.entries(before)) if (!(s in after)) out.push(ev(s, appId, 'unregister'))
  return out
}

/**
 * Validates, plans and (unless dryRun) starts a deployment in the background. Throws 400
 * (bad preset), 503 (no engine: nothing is written), 409 (a deploy of this environment is running).
 */
export async function startDeployment(ctx: Context, req: DeployRequest): Promise<DeployStart> {
  const env = req.environment
  const preset = await resolvePreset(ctx, env, req.source)
  const backend = await selectBackend(ctx)
  if (req.dryRun) {
    const state = await readEnvironment(ctx, env)
    const { desired, plan } = await computePlan(ctx, backend, env, preset, state.counter + 1)
    return { dryRun: true, environment: env, revision: plan.revision, preset: preset.name, plan, infrastructure: desired.infrastructure, backend: backend.name }
  }
  const id = crypto.randomUUID()
  const lease = await acquireLease(ctx, env, id)
  if (!lease.ok) {
    throw conflict(`Deployment ${lease.holder ?? '(unknown)'} is already running in environment "${env}"; retry when it finishes.`, {
      runningDeployment: lease.holder,
      location: lease.holder ? `/orchestrator/deployments/${lease.holder}` : undefined,
    })
  }
  try {
    const state = await readEnvironment(ctx, env)
    const interrupted = state.inProgress
    let { desired, plan } = await computePlan(ctx, backend, env, preset, state.counter + 1)
    const noop = isNoop(plan) && state.current !== null && !interrupted
    const revision = noop ? state.current!.number : Number(await ctx.store.call(['HINCRBY', ctx.keys.deployment(env), 'counter', 1]))
    plan = { ...plan, revision }
    const record: DeploymentRecord = {
      id,
      environment: env,
      preset: preset.name,
      revision,
      previousRevision: state.current?.number ?? null,
      requestedBy: req.requestedBy,
      autoRollback: req.autoRollback,
      status: noop ? 'succeeded' : 'running',
      stage: noop ? 'done' : 'planning',
      waitingFor: [],
      plan,
      progress: Object.fromEntries(plan.actions.map((a) => [a.unit, { unit: a.unit, app: a.app, role: a.role, action: a.action, state: a.action === 'unchanged' ? 'running' : 'pending' }])),
      backend: backend.name,
      startedAt: new Date().toISOString(),
      ...(noop ? { finishedAt: new Date().toISOString(), result: { ok: true, detail: 'no changes: the environment already matches' } } : {}),
    }
    const state0: Command[] = [
      runCommand(ctx, record),
      ['ZADD', ctx.keys.deploymentIndex, Date.now(), id],
      ['SADD', ctx.keys.environments, env],
    ]
    if (noop) {
      await ctx.store.transaction(state0)
      await releaseLease(ctx, env, id)
      return { dryRun: false, record, done: Promise.resolve(record) }
    }
    const inProgress = { deploymentId: id, revision, previousRevision: record.previousRevision, startedAt: record.startedAt }
    await emit(ctx, [lifecycle('deployment.started', env, { deploymentId: id, revision, preset: preset.name, summary: plan.summary })], [
      ...state0,
      ['HSET', ctx.keys.deployment(env), 'inProgress', JSON.stringify(inProgress)],
    ])
    const done = runDeployment(ctx, backend, record, preset, desired, state, req, interrupted?.deploymentId).finally(() => running.delete(id))
    running.set(id, done)
    return { dryRun: false, record, done }
  } catch (e) {
    await releaseLease(ctx, env, id).catch(() => undefined)
    throw e
  }
}

const STAGES: { stage: 'apps' | 'sidecars' | 'infrastructure'; role: UnitRole }[] = [
  { stage: 'infrastructure', role: 'infrastructure' },
  { stage: 'apps', role: 'app' },
  { stage: 'sidecars', role: 'sidecar' },
]

/**
 * Applies a plan in start order: removals of apps/sidecars, infrastructure (then its
 * protocol checks), apps, sidecars, infrastructure removals last. Returns an error text or null.
 */
async function applyInOrder(
  ctx: Context,
  backend: Backend,
  record: DeploymentRecord,
  desired: DesiredState,
  plan: Plan,
  save: () => Promise<void>,
  createdAt = new Map<string, number>(),
  mode?: RestartStrategy,
): Promise<string | null> {
  const healthMs = ctx.config.deploy.verifyTimeoutSeconds * 1000
  const opts: ApplyOptions = {
    revision: record.revision,
    deploymentId: record.id,
    ...(mode ? { strategy: mode, waitHealthy: (inst: NewInstance, signal: AbortSignal) => waitForHealthyHeartbeat(ctx, inst, Date.now() + healthMs, signal) } : {}),
    onProgress: (unit: string, state: string, detail?: string) => {
      if (state === 'creating') createdAt.set(unit, Date.now())
      const p = record.progress[unit]
      if (p) Object.assign(p, { state, ...(detail ? { detail } : {}) })
    },
  }
  const failed = (r: { results: { ok: boolean; unit: string; error?: string }[] }) =>
    r.results.filter((x) => !x.ok).map((x) => `${x.unit}: ${x.error}`)
  const isRemove = (a: PlanAction) => a.action === 'remove'
  // Rolling modes replace a recreated app together with its sidecar (the replacement pair gets new ports).
  const rolling = mode === 'graceful' || mode === 'immediate'
  const recreatedApps = new Set(plan.actions.filter((a) => a.role === 'app' && a.action === 'recreate').map((a) => a.unit))
  const stageOf = (a: PlanAction): UnitRole => (rolling && a.role === 'sidecar' && a.action === 'recreate' && recreatedApps.has(a.unit.replace(/-dapr$/, '')) ? 'app' : a.role)
  let errs = failed(await backend.apply(subPlan(plan, (a) => isRemove(a) && a.role === 'sidecar'), opts))
  errs.push(...failed(await backend.apply(subPlan(plan, (a) => isRemove(a) && a.role === 'app'), opts)))
  if (errs.length) return `removing units failed: ${errs.join('; ')}`
  for (const { stage, role } of STAGES) {
    record.stage = stage
    await save()
    errs = failed(await backend.apply(subPlan(plan, (a) => !isRemove(a) && stageOf(a) === role), opts))
    await save()
    if (errs.length) return `${stage} stage failed: ${errs.join('; ')}`
    if (role === 'infrastructure') {
      const gate = await waitForInfrastructure(ctx, backend, record, desired.infrastructure, save)
      if (gate) return gate
    }
  }
  errs = failed(await backend.apply(subPlan(plan, (a) => isRemove(a) && a.role === 'infrastructure'), opts))
  return errs.length ? `removing infrastructure failed: ${errs.join('; ')}` : null
}

/** Protocol checks until every component answers or the wait deadline passes; the record says what we wait for. */
async function waitForInfrastructure(ctx: Context, backend: Backend, record: DeploymentRecord, targets: InfraTarget[], save: () => Promise<void>): Promise<string | null> {
  const check = ctx.platform.checkInfrastructure
  if (!check || targets.length === 0) return null
  const deadline = Date.now() + ctx.config.deploy.infrastructureWaitSeconds * 1000
  while (true) {
    const results = await Promise.all(
      targets.map(async (t) => {
        let address = t.address
        if (t.mode === 'container' && ctx.config.deploy.network !== 'host') {
          const ip = await backend.addressOf(t.unit!)
          address = `${ip ?? t.kind}:${t.address.split(':').pop()}`
        }
        const r = await check(t.kind, address, INFRA_CHECK_TIMEOUT_MS)
        return { t, address, ...r }
      }),
    )
    const waiting = results.filter((r) => !r.ok).map((r) => `${r.t.kind} (${r.t.mode}) at ${r.address}: ${r.detail}`)
    if (JSON.stringify(waiting) !== JSON.stringify(record.waitingFor)) {
      record.waitingFor = waiting
      await save()
    }
    if (waiting.length === 0) return null
    if (Date.now() >= deadline) return `infrastructure not ready after ${ctx.config.deploy.infrastructureWaitSeconds} s: ${waiting.join('; ')}`
    await new Promise((r) => setTimeout(r, INFRA_POLL_MS))
  }
}

async function runDeployment(
  ctx: Context,
  backend: Backend,
  record: DeploymentRecord,
  preset: ResolvedPreset,
  desired: DesiredState,
  before: EnvironmentState,
  req: DeployRequest,
  interruptedId?: string,
): Promise<DeploymentRecord> {
  const env = record.environment
  const renew = setInterval(() => void renewLease(ctx, env, record.id).catch(() => undefined), LEASE_RENEW_MS)
  let saving = Promise.resolve()
  const save = () => (saving = saving.then(() => saveRun(ctx, record)).catch((e) => ctx.log.warn('could not save deployment record', { error: String(e) })))
  try {
    if (interruptedId) await markInterrupted(ctx, interruptedId, record.id)
    const createdAt = new Map<string, number>()
    let error = await applyInOrder(ctx, backend, record, desired, record.plan, save, createdAt, req.mode)
    if (!error) {
      record.stage = 'verifying'
      await save()
      const freshSince = new Map<string, number>()
      for (const a of record.plan.actions) {
        const t = a.role === 'app' ? createdAt.get(a.unit) : undefined
        if (t !== undefined) freshSince.set(a.app, Math.max(t, freshSince.get(a.app) ?? 0))
      }
      const verify = await verifyByHeartbeat(ctx, backend, {
        environment: env,
        preset,
        freshSince,
        deadlineMs: Date.now() + (req.verifyTimeoutSeconds ?? ctx.config.deploy.verifyTimeoutSeconds) * 1000,
        units: desired.units.filter((u) => u.role !== 'infrastructure').map((u) => u.name),
        sidecars: sidecarChecks(desired.units),
        hostNetwork: ctx.config.deploy.network === 'host',
        onUpdate: (entries) => {
          record.verification = entries
          void save()
        },
      })
      record.verification = verify.entries
      if (!verify.ok) error = verify.error ?? 'verification failed'
    }
    if (!error) {
      const imageIds = await backend.imageIds(desired.units.map((u) => u.image))
      const rev: Revision = {
        number: record.revision,
        environment: env,
        preset,
        desired,
        imageIds,
        deploymentId: record.id,
        requestedBy: record.requestedBy,
        deployedAt: new Date().toISOString(),
        result: 'succeeded',
      }
      Object.assign(record, { status: 'succeeded', stage: 'done', waitingFor: [], finishedAt: new Date().toISOString(), result: { ok: true } })
      await saving
      const events = [
        ...mappingEvents(before.current ? serviceMapping(before.current.preset) : {}, serviceMapping(preset)),
        lifecycle('deployment.succeeded', env, { deploymentId: record.id, revision: record.revision, preset: preset.name, imageIds }),
      ]
      await emit(ctx, events, [...commitRevisionCommands(ctx, rev), runCommand(ctx, record)])
      return record
    }
    return await fail(ctx, backend, record, before, error, save, req.mode)
  } catch (e) {
    return await fail(ctx, backend, record, before, e instanceof Error ? e.message : String(e), save, req.mode)
  } finally {
    clearInterval(renew)
    await releaseLease(ctx, env, record.id).catch(() => undefined)
  }
}

/** Failure: roll back to the previous revision (or remove what we created when there was none). */
async function fail(ctx: Context, backend: Backend, record: DeploymentRecord, before: EnvironmentState, error: string, save: () => Promise<void>, mode?: RestartStrategy) {
  const env = record.environment
  ctx.log.warn('deployment failed', { deploymentId: record.id, environment: env, error })
  const events: OutboundEvent[] = [lifecycle('deployment.failed', env, { deploymentId: record.id, revision: record.revision, error })]
  let rolledBackTo: number | null | undefined
  let rollbackError: string | null = null
  if (record.autoRollback) {
    record.stage = 'rolling-back'
    await save()
    try {
      rollbackError = await rollbackTo(ctx, backend, record, before.current, mode)
      rolledBackTo = before.current?.number ?? null
    } catch (e) {
      rollbackError = e instanceof Error ? e.message : String(e)
    }
    if (!rollbackError) events.push(lifecycle('deployment.rolled-back', env, { deploymentId: record.id, failedRevision: record.revision, rolledBackTo }))
  }
  Object.assign(record, {
    status: record.autoRollback && !rollbackError ? 'rolled-back' : 'failed',
    stage: 'done',
    finishedAt: new Date().toISOString(),
    result: { ok: false, error, ...(record.autoRollback ? { rolledBackTo: rolledBackTo ?? null } : {}), ...(rollbackError ? { detail: `rollback failed: ${rollbackError}` } : {}) },
  })
  await save()
  await emit(ctx, events, [runCommand(ctx, record), ['HDEL', ctx.keys.deployment(env), 'inProgress']])
  return record
}

/** Brings the environment back to a revision's desired state (no verify), or empties it. */
export async function rollbackTo(ctx: Context, backend: Backend, record: DeploymentRecord, target: Revision | null, mode?: RestartStrategy): Promise<string | null> {
  const env = record.environment
  if (!target) {
    await backend.remove(env, { graceSeconds: ctx.config.deploy.stopGraceSeconds, removeVolumes: false })
    return null
  }
  // Exactly the recorded desired state (images, ports, env), not the preset re-resolved under
  // today's settings: a failure caused by a changed setting (e.g. a new sidecar image) must not come back.
  // Revisions keep only hashes of secret values, so a revision with secrets is re-resolved instead.
  if (target.desired.units.some((u) => u.secrets && Object.keys(u.secrets).length > 0)) {
    const { desired, plan } = await computePlan(ctx, backend, env, target.preset, target.number)
    return applyInOrder(ctx, backend, { ...record, revision: target.number, progress: {} }, desired, plan, async () => {}, new Map(), mode)
  }
  const plan = diffPlan(env, target.number, target.desired.units, await backend.status(env))
  return applyInOrder(ctx, backend, { ...record, revision: target.number, progress: {} }, target.desired, plan, async () => {}, new Map(), mode)
}

async function markInterrupted(ctx: Context, id: string, by: string) {
  const old = await readRun(ctx, id)
  if (!old || old.status !== 'running') return
  Object.assign(old, { status: 'interrupted', stage: 'done', finishedAt: new Date().toISOString(), result: { ok: false, error: `the orchestrator stopped during this deployment; deployment ${by} took over the environment` } })
  await emit(ctx, [lifecycle('deployment.failed', old.environment, { deploymentId: id, error: 'interrupted', supersededBy: by })], [runCommand(ctx, old)])
}

/**
 * Crash recovery without a new deploy (scheduler task): an inProgress record whose lease has
 * expired means the orchestrator died mid-deploy; roll the environment back to its current revision.
 */
export async function recoverInterrupted(ctx: Context, env: string): Promise<string | null> {
  const state = await readEnvironment(ctx, env)
  if (!state.inProgress) return null
  const token = `recovery-${crypto.randomUUID()}`
  const lease = await acquireLease(ctx, env, token)
  if (!lease.ok) return null
  try {
    const again = await readEnvironment(ctx, env)
    if (!again.inProgress) return null
    const backend = await selectBackend(ctx)
      const old = await readRun(ctx, again.inProgress.deploymentId)
    const stub = old ?? ({ id: again.inProgress.deploymentId, environment: env, revision: again.inProgress.revision, progress: {} } as unknown as DeploymentRecord)
    const err = await rollbackTo(ctx, backend, stub, again.current)
    if (old) Object.assign(old, { status: err ? 'failed' : 'rolled-back', stage: 'done', finishedAt: new Date().toISOString(), result: { ok: false, error: 'the orchestrator stopped during this deployment', rolledBackTo: again.current?.number ?? null, ...(err ? { detail: err } : {}) } })
    await emit(
      ctx,
      [lifecycle('deployment.rolled-back', env, { deploymentId: again.inProgress.deploymentId, reason: 'interrupted', rolledBackTo: again.current?.number ?? null })],
      [...(old ? [runCommand(ctx, old)] : []), ['HDEL', ctx.keys.deployment(env), 'inProgress']],
    )
    return again.inProgress.deploymentId
  } finally {
    await releaseLease(ctx, env, token).catch(() => undefined)
  }
}
