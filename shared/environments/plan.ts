import { changedSecrets } from '../backends/secrets.ts'
import type { Plan, PlanAction, PlanActionKind, Unit, UnitRole, UnitSpec } from '../backends/types.ts'

const STAGE: Record<UnitRole, number> = { infrastructure: 0, app: 1, sidecar: 2 }

/** Field-level differences between the running spec and the desired one, as readable reasons. */
export function specDifferences(running: UnitSpec, desired: UnitSpec): string[] {
  const reasons: string[] = []
  if (running.image !== desired.image) reasons.push(`image ${running.image} → ${desired.image}`)
  const keys = new Set([...Object.keys(running.env), ...Object.keys(desired.env)])
  for (const k of [...keys].sort()) {
    const a = running.env[k]
    const b = desired.env[k]
    if (a === b) continue
    if (a === undefined) reasons.push(`env ${k} added (${b})`)
    else if (b === undefined) reasons.push(`env ${k} removed`)
    else reasons.push(`env ${k} ${a} → ${b}`)
  }
  if (JSON.stringify(running.command ?? null) !== JSON.stringify(desired.command ?? null)) reasons.push('command changed')
  if (JSON.stringify(running.extraHosts) !== JSON.stringify(desired.extraHosts)) reasons.push(`extra hosts ${running.extraHosts.join(',')} → ${desired.extraHosts.join(',')}`)
  if (running.role !== desired.role) reasons.push(`role ${running.role} → ${desired.role}`)
  for (const k of changedSecrets(running, desired)) reasons.push(`secret ${k} changed`)
  return reasons
}

/**
 * Desired units vs what runs: create / recreate / remove / unchanged, each with reasons.
 * A unit that is not running is recreated (no restart policies: the engine restarts in order).
 * A sidecar is recreated with its app ("restarted with it").
 */
export function diffPlan(environment: string, revision: number, desired: readonly UnitSpec[], actual: readonly Unit[]): Plan {
  const running = new Map(actual.map((u) => [u.name, u]))
  const actions: PlanAction[] = []
  for (const spec of desired) {
    const u = running.get(spec.name)
    const base = { unit: spec.name, app: spec.app, role: spec.role, spec }
    if (!u) {
      actions.push({ ...base, action: 'create', reasons: ['not running yet'] })
      continue
    }
    const reasons = u.spec ? specDifferences(u.spec, spec) : ['created outside this orchestrator version (no spec label)']
    if (u.state !== 'running') reasons.push(`container is ${u.state}`)
    actions.push({ ...base, action: reasons.length ? 'recreate' : 'unchanged', reasons })
  }
  const wanted = new Set(desired.map((s) => s.name))
  for (const u of actual) {
    if (!wanted.has(u.name)) actions.push({ action: 'remove', unit: u.name, app: u.app, role: u.role, reasons: ['not in the desired state'] })
  }
  const recreatedApps = new Set(actions.filter((a) => a.role === 'app' && a.action === 'recreate').map((a) => a.unit))
  for (const a of actions) {
    if (a.role === 'sidecar' && a.action === 'unchanged' && recreatedApps.has(a.unit.replace(/-dapr$/, ''))) {
      a.action = 'recreate'
      a.reasons.push('its app is recreated')
    }
  }
  actions.sort((a, b) => STAGE[a.role] - STAGE[b.role] || a.unit.localeCompare(b.unit))
  const summary: Record<PlanActionKind, number> = { create: 0, recreate: 0, remove: 0, unchanged: 0 }
  for (const a of actions) summary[a.action]++
  return { environment, revision, actions, summary }
}

/** The actions of one stage, as a plan a backend can apply. */
export const subPlan = (plan: Plan, pick: (a: PlanAction) => boolean): Plan => ({ ...plan, actions: plan.actions.filter(pick) })

export const isNoop = (plan: Plan) => plan.actions.every((a) => a.action === 'unchanged')
