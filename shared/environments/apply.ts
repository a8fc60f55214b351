import type { ApplyOptions, Backend, NewInstance, Plan, PlanAction, RestartStrategy, UnitRole } from '../backends/types.ts'
import type { Context } from '../context.ts'
import { waitForHealthyHeartbeat } from '../restarts/health-wait.ts'
import type { DesiredState, InfraTarget } from './desired.ts'
import { subPlan } from './plan.ts'
import type { DeploymentRecord } from './records.ts'

const INFRA_POLL_MS = 500
const INFRA_CHECK_TIMEOUT_MS = 1500

const STAGES: { stage: 'apps' | 'sidecars' | 'infrastructure'; role: UnitRole }[] = [
  { stage: 'infrastructure', role: 'infrastructure' },
  { stage: 'apps', role: 'app' },
  { stage: 'sidecars', role: 'sidecar' },
]

/**
 * Applies a plan in start order: removals of apps/sidecars, infrastructure (then its
 * protocol checks), apps, sidecars, infrastructure removals last. Returns an error text or null.
 */
export async function applyInOrder(
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
