import * as v from 'valibot'
import type { Backend } from '../backends/types.ts'
import type { Context } from '../context.ts'
import { badRequest, notFound } from '../errors.ts'
import { loadPresets } from '../presets/load.ts'
import { Preset, type ResolvedPreset } from '../presets/schema.ts'
import { desiredState } from './desired.ts'
import { diffPlan } from './plan.ts'
import { findRevision } from './records.ts'

/** Where a deployment's target comes from: a preset by name, an inline topology, or a stored revision. */
export type DeploySource = { kind: 'preset'; name: string } | { kind: 'topology'; topology: unknown } | { kind: 'revision'; number: number }

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

/** The desired state of `preset` for `env`, and the plan from what runs now to it. */
export async function computePlan(ctx: Context, backend: Backend, env: string, preset: ResolvedPreset, revision: number) {
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
