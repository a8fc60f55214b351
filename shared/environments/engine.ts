import type { Backend, Plan, RestartStrategy } from '../backends/types.ts'
import { selectBackend } from '../backends/registry.ts'
import type { Context } from '../context.ts'
import { conflict, errorMessage } from '../errors.ts'
import { emit } from '../events/outbox.ts'
import type { OutboundEvent } from '../events/schemas.ts'
import type { ResolvedPreset } from '../presets/schema.ts'
import type { Command } from '../store/types.ts'
import { applyInOrder } from './apply.ts'
import type { DesiredState, InfraTarget } from './desired.ts'
import { lifecycle, mappingEvents } from './events.ts'
import { isNoop } from './plan.ts'
import {
  acquireLease,
  commitRevisionCommands,
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
import { rollbackTo } from './rollback.ts'
import { serviceMapping } from './service-mapping.ts'
import { computePlan, resolvePreset, type DeploySource } from './target.ts'
import { sidecarChecks, verifyByHeartbeat } from './verify.ts'

export type { DeploySource } from './target.ts'

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
    const done = runDeployment(ctx, backend, record, preset, desired, state, req, interrupted?.deploymentId)
      .catch((e: unknown): DeploymentRecord => {
        // Redis went away before the outcome could be written. Nobody may be waiting on this
        // promise (202), so it must not reject; the inProgress marker stays behind, and crash
        // recovery (environment-watch) rolls the environment back once Redis is reachable.
        const error = `could not record the outcome (${errorMessage(e)}); crash recovery will finish this deployment`
        ctx.log.error('deployment could not record its outcome', { deploymentId: id, environment: env, error })
        return { ...record, status: 'interrupted', stage: 'done', finishedAt: new Date().toISOString(), result: { ok: false, error } }
      })
      .finally(() => running.delete(id))
    running.set(id, done)
    return { dryRun: false, record, done }
  } catch (e) {
    await releaseLease(ctx, env, id).catch(() => undefined)
    throw e
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
    return await fail(ctx, backend, record, before, errorMessage(e), save, req.mode)
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
      rollbackError = errorMessage(e)
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


async function markInterrupted(ctx: Context, id: string, by: string) {
  const old = await readRun(ctx, id)
  if (!old || old.status !== 'running') return
  Object.assign(old, { status: 'interrupted', stage: 'done', finishedAt: new Date().toISOString(), result: { ok: false, error: `the orchestrator stopped during this deployment; deployment ${by} took over the environment` } })
  await emit(ctx, [lifecycle('deployment.failed', old.environment, { deploymentId: id, error: 'interrupted', supersededBy: by })], [runCommand(ctx, old)])
}
