import { selectBackend } from '../backends/registry.ts'
import type { Backend, RestartStrategy } from '../backends/types.ts'
import type { Context } from '../context.ts'
import { emit } from '../events/outbox.ts'
import { applyInOrder } from './apply.ts'
import { lifecycle } from './events.ts'
import { diffPlan } from './plan.ts'
import { acquireLease, readEnvironment, readRun, releaseLease, runCommand, type DeploymentRecord, type Revision } from './records.ts'
import { computePlan } from './target.ts'

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
  const { desired, plan } = target.desired.units.some((u) => u.secrets && Object.keys(u.secrets).length > 0)
    ? await computePlan(ctx, backend, env, target.preset, target.number)
    : { desired: target.desired, plan: diffPlan(env, target.number, target.desired.units, await backend.status(env)) }
  return applyInOrder(ctx, backend, { ...record, revision: target.number, progress: {} }, desired, plan, async () => {}, new Map(), mode)
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
