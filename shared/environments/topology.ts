import type { Context } from '../context.ts'
import { badRequest, conflict, type FieldError } from '../errors.ts'
import { emit } from '../events/outbox.ts'
import { stamp, type LifecycleEvent } from '../events/schemas.ts'
import type { PresetNode, ResolvedPreset } from '../presets/schema.ts'
import { serviceMapping } from './service-mapping.ts'
import { startDeployment } from './engine.ts'
import { mappingEvents } from './events.ts'
import { readEnvironment, type DeploymentRecord } from './records.ts'

/**
 * Live topology changes (reference "Live Topology Changes"): a list of changes validated as
 * a whole against the environment's current revision, shown as a plan, then applied through
 * the deploy engine (staged apply, verify by heartbeat, roll back on failure). A move starts
 * the service on its target first (phase 1: both nodes host it, the mapping still points at
 * the source) and only then removes it from the source (phase 2: mapping `update`).
 * Mapping events follow from the app ids before and after: move → update, add → register,
 * remove → unregister, scale and env changes → none.
 */
type Node = PresetNode & { daprAppId: string }

export type TopologyChange =
  | { action: 'move-service'; nodeName: string; services: string[] }
  | { action: 'add-node'; nodeConfig: PresetNode }
  | { action: 'remove-node'; nodeName: string }
  | { action: 'scale'; nodeName: string; replicas: number }
  | { action: 'update-env'; nodeName: string; environment: Record<string, string | null> }

export interface TopologyRequest {
  environment: string
  changes: TopologyChange[]
  mode: 'graceful' | 'immediate' | 'force'
  dryRun: boolean
  requestedBy: string
}

export interface TopologyPlanStep {
  change: number
  action: TopologyChange['action']
  description: string
}

const clone = (nodes: Node[]): Node[] => nodes.map((n) => ({ ...n, services: [...n.services], ...(n.environment ? { environment: { ...n.environment } } : {}) }))

/** Applies the changes to the node list; every problem is reported at once (field = changes.i.…). */
export function applyChanges(start: Node[], changes: TopologyChange[]): { nodes: Node[]; moved: Node[]; steps: TopologyPlanStep[]; errors: FieldError[] } {
  const nodes = clone(start)
  const errors: FieldError[] = []
  const steps: TopologyPlanStep[] = []
  const find = (name: string) => nodes.find((n) => n.name === name)
  changes.forEach((c, i) => {
    const at = (f: string, message: string) => errors.push({ field: `changes.${i}.${f}`, message })
    switch (c.action) {
      case 'move-service': {
        const target = find(c.nodeName)
        if (!target) return at('nodeName', `no node "${c.nodeName}" in the environment`)
        for (const s of c.services) {
          const sources = nodes.filter((n) => n !== target && n.services.includes(s))
          if (sources.length === 0 && !target.services.includes(s)) {
            at('services', `service "${s}" is not hosted by any node`)
            continue
          }
          for (const src of sources) {
            if (src.services.length === 1) {
              at('services', `moving "${s}" would leave node "${src.name}" without services; remove the node instead`)
              continue
            }
            src.services = src.services.filter((x) => x !== s)
          }
          if (!target.services.includes(s)) target.services.push(s)
          steps.push({ change: i, action: c.action, description: `move ${s} from ${sources.map((n) => n.name).join(', ') || '(already there)'} to ${target.name} (start on ${target.name} first)` })
        }
        return
      }
      case 'add-node': {
        if (find(c.nodeConfig.name)) return at('nodeConfig.name', `node "${c.nodeConfig.name}" already exists`)
        nodes.push({ ...c.nodeConfig, daprAppId: c.nodeConfig.daprAppId ?? c.nodeConfig.name })
        steps.push({ change: i, action: c.action, description: `add node ${c.nodeConfig.name} (${c.nodeConfig.services.join(', ')}; ${c.nodeConfig.replicas} replica(s))` })
        return
      }
      case 'remove-node': {
        const idx = nodes.findIndex((n) => n.name === c.nodeName)
        if (idx < 0) return at('nodeName', `no node "${c.nodeName}" in the environment`)
        nodes.splice(idx, 1)
        steps.push({ change: i, action: c.action, description: `remove node ${c.nodeName}` })
        return
      }
      case 'scale': {
        const n = find(c.nodeName)
        if (!n) return at('nodeName', `no node "${c.nodeName}" in the environment`)
        steps.push({ change: i, action: c.action, description: `scale ${n.name} from ${n.replicas} to ${c.replicas} replica(s)` })
        n.replicas = c.replicas
        return
      }
      case 'update-env': {
        const n = find(c.nodeName)
        if (!n) return at('nodeName', `no node "${c.nodeName}" in the environment`)
        const env = { ...(n.environment ?? {}) }
        for (const [k, val] of Object.entries(c.environment)) {
          if (val === null) delete env[k]
          else env[k] = val
        }
        n.environment = env
        steps.push({ change: i, action: c.action, description: `update env of ${n.name}: ${Object.keys(c.environment).join(', ')}` })
        return
      }
    }
  })
  if (nodes.length === 0) errors.push({ field: 'changes', message: 'the result would have no nodes; use teardown instead' })
  // Phase 1 of moves: targets gain the services, sources keep them; sources first so the mapping still points at them.
  const moved = clone(start)
  for (const c of changes) {
    if (c.action !== 'move-service') continue
    const t = moved.find((n) => n.name === c.nodeName)
    if (t) for (const s of c.services) if (!t.services.includes(s)) t.services.push(s)
  }
  const targets = new Set(changes.flatMap((c) => (c.action === 'move-service' ? [c.nodeName] : [])))
  const movedOrdered = [...moved.filter((n) => !targets.has(n.name)), ...moved.filter((n) => targets.has(n.name))]
  return { nodes, moved: movedOrdered, steps, errors }
}

const asTopology = (p: ResolvedPreset, nodes: Node[]) => ({ name: p.name, description: p.description, nodes, infrastructure: p.infrastructure })

const lifecycle = (environment: string, data: Record<string, unknown>) => ({
  kind: 'lifecycle' as const,
  event: stamp({ type: 'topology.changed' as const, source: 'orchestrator' as const, environment, data }) as LifecycleEvent,
})

export async function changeTopology(ctx: Context, req: TopologyRequest) {
  const state = await readEnvironment(ctx, req.environment)
  if (!state.current) throw conflict(`Environment "${req.environment}" has no deployed revision; deploy it before changing its topology.`)
  const preset = state.current.preset
  const { nodes, moved, steps, errors } = applyChanges(preset.nodes, req.changes)
  if (errors.length) throw badRequest(errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors)
  const hasMoves = req.changes.some((c) => c.action === 'move-service')
  const events = mappingEvents(serviceMapping(preset), serviceMapping({ nodes })).map((e) => ({ action: (e.event as { action: string }).action, serviceName: (e.event as { serviceName: string }).serviceName, appId: (e.event as { appId: string }).appId }))
  const phases = hasMoves ? [{ name: 'start moved services on their targets', nodes: moved }, { name: 'apply the remaining changes', nodes }] : [{ name: 'apply the changes', nodes }]
  const base = { environment: req.environment, fromRevision: state.current.number, mode: req.mode, steps, expectedMappingEvents: events }
  // Validate the final topology with the deploy engine (400 naming the field) and show its plan.
  const dry = await startDeployment(ctx, { environment: req.environment, source: { kind: 'topology', topology: asTopology(preset, nodes) }, dryRun: true, autoRollback: true, requestedBy: req.requestedBy })
  const plan = dry.dryRun ? dry.plan : undefined
  if (req.dryRun) return { ...base, dryRun: true, phases: phases.map((p) => p.name), plan, changes: plan?.actions.filter((a) => a.action !== 'unchanged') ?? [] }

  const deployments: DeploymentRecord[] = []
  for (const phase of phases) {
    const started = await startDeployment(ctx, { environment: req.environment, source: { kind: 'topology', topology: asTopology(preset, phase.nodes) }, dryRun: false, autoRollback: true, requestedBy: req.requestedBy, mode: req.mode })
    if (started.dryRun) continue
    const rec = await started.done
    deployments.push(rec)
    if (rec.status !== 'succeeded') {
      // Roll back all the way to where we started (a failed phase 2 would otherwise stay at phase 1).
      let restored: number | null = null
      if (deployments.length > 1) {
        const back = await startDeployment(ctx, { environment: req.environment, source: { kind: 'revision', number: state.current.number }, dryRun: false, autoRollback: false, requestedBy: req.requestedBy, mode: req.mode })
        if (!back.dryRun && (await back.done).status === 'succeeded') restored = state.current.number
      } else if (rec.status === 'rolled-back') restored = state.current.number
      await emit(ctx, [lifecycle(req.environment, { ...base, ok: false, phase: phase.name, error: rec.result?.error, restored })])
      return { ...base, dryRun: false, ok: false, failedPhase: phase.name, error: rec.result?.error ?? 'failed', restoredRevision: restored, deployments: deployments.map((d) => ({ id: d.id, revision: d.revision, status: d.status })) }
    }
  }
  const last = deployments[deployments.length - 1]
  await emit(ctx, [lifecycle(req.environment, { ...base, ok: true, revision: last?.revision })])
  return { ...base, dryRun: false, ok: true, revision: last?.revision ?? state.current.number, deployments: deployments.map((d) => ({ id: d.id, revision: d.revision, status: d.status })) }
}
