import type { Context } from '../context.ts'
import type { Plan } from '../backends/types.ts'
import type { ResolvedPreset } from '../presets/schema.ts'
import { compareAndDelete, compareAndExpire } from '../store/scripts.ts'
import type { Command } from '../store/types.ts'
import { asArray, asHash, asString, parseJson } from '../store/ops.ts'
import type { DesiredState } from './desired.ts'
import { redactingReplacer } from '../backends/secrets.ts'

export type DeploymentStatus = 'running' | 'succeeded' | 'failed' | 'rolled-back' | 'interrupted'
export type DeploymentStage = 'planning' | 'infrastructure' | 'apps' | 'sidecars' | 'verifying' | 'rolling-back' | 'done'

export interface NodeProgress {
  unit: string
  app: string
  role: string
  action: string
  state: string
  detail?: string
}

/** One deploy run: what GET /orchestrator/deployments/{id} returns. */
export interface DeploymentRecord {
  id: string
  environment: string
  preset: string
  revision: number
  previousRevision: number | null
  requestedBy: string
  autoRollback: boolean
  status: DeploymentStatus
  stage: DeploymentStage
  waitingFor: string[]
  plan: Plan
  progress: Record<string, NodeProgress>
  verification?: { appId: string; service: string; status: string; healthy: boolean }[]
  result?: { ok: boolean; error?: string; rolledBackTo?: number | null; detail?: string }
  backend: string
  startedAt: string
  finishedAt?: string
}

/** A successful deploy, kept in orchestrator:revisions:{env}; enough to redeploy it exactly. */
export interface Revision {
  number: number
  environment: string
  preset: ResolvedPreset
  desired: DesiredState
  imageIds: Record<string, string>
  deploymentId: string
  requestedBy: string
  deployedAt: string
  result: 'succeeded'
}

/** Crash-recovery record: present while a deploy runs; a leftover one means the orchestrator died mid-deploy. */
export interface InProgress {
  deploymentId: string
  revision: number
  previousRevision: number | null
  startedAt: string
}

const RUN_TTL_SECONDS = 7 * 24 * 3600
const REVISIONS_KEPT = 50
export const LEASE_TTL_MS = 30_000

export const runCommand = (ctx: Context, r: DeploymentRecord): Command => ['SET', ctx.keys.deploymentRun(r.id), JSON.stringify(r, redactingReplacer), 'EX', RUN_TTL_SECONDS]

export async function saveRun(ctx: Context, r: DeploymentRecord) {
  await ctx.store.call(runCommand(ctx, r))
}

export async function readRun(ctx: Context, id: string): Promise<DeploymentRecord | null> {
  const j = parseJson(asString(await ctx.store.call(['GET', ctx.keys.deploymentRun(id)])))
  return j.ok ? (j.value as DeploymentRecord) : null
}

export async function listRuns(ctx: Context, limit: number, environment?: string): Promise<DeploymentRecord[]> {
  const ids = asArray(await ctx.store.call(['ZREVRANGE', ctx.keys.deploymentIndex, 0, environment ? 499 : limit - 1])).map(String)
  if (!ids.length) return []
  const raw = asArray(await ctx.store.call(['MGET', ...ids.map((id) => ctx.keys.deploymentRun(id))]))
  const out: DeploymentRecord[] = []
  for (const r of raw) {
    const j = parseJson(asString(r))
    if (!j.ok) continue
    const rec = j.value as DeploymentRecord
    if (!environment || rec.environment === environment) out.push(rec)
    if (out.length >= limit) break
  }
  return out
}

export interface EnvironmentState {
  current: Revision | null
  counter: number
  inProgress: InProgress | null
}

export async function readEnvironment(ctx: Context, env: string): Promise<EnvironmentState> {
  const h = asHash(await ctx.store.call(['HGETALL', ctx.keys.deployment(env)]))
  const cur = parseJson(h.current ?? null)
  const prog = parseJson(h.inProgress ?? null)
  return {
    current: cur.ok ? (cur.value as Revision) : null,
    counter: Number(h.counter ?? 0),
    inProgress: prog.ok ? (prog.value as InProgress) : null,
  }
}

export async function listEnvironments(ctx: Context): Promise<string[]> {
  return asArray(await ctx.store.call(['SMEMBERS', ctx.keys.environments])).map(String).sort()
}

export async function findRevision(ctx: Context, env: string, n: number): Promise<Revision | null> {
  for (const r of asArray(await ctx.store.call(['LRANGE', ctx.keys.revisions(env), 0, -1]))) {
    const j = parseJson(asString(r))
    if (j.ok && (j.value as Revision).number === n) return j.value as Revision
  }
  return null
}

/** Commands that make a revision current (used inside emit(), with its events). */
export const commitRevisionCommands = (ctx: Context, rev: Revision): Command[] => [
    ['LPUSH', ctx.keys.revisions(rev.environment), JSON.stringify(rev, redactingReplacer)],
    ['LTRIM', ctx.keys.revisions(rev.environment), 0, REVISIONS_KEPT - 1],
    ['HSET', ctx.keys.deployment(rev.environment), 'current', JSON.stringify(rev, redactingReplacer)],
    ['HDEL', ctx.keys.deployment(rev.environment), 'inProgress'],
]

// --- per-environment lease: one deploy (or teardown) per environment at a time ---

export const leaseName = (env: string) => `deploy:${env}`

/** Takes the lease with our token; returns the holder's token when someone else has it. */
export async function acquireLease(ctx: Context, env: string, token: string): Promise<{ ok: true } | { ok: false; holder: string | null }> {
  const r = await ctx.store.call(['SET', ctx.keys.lease(leaseName(env)), token, 'NX', 'PX', LEASE_TTL_MS])
  if (r === 'OK') return { ok: true }
  return { ok: false, holder: asString(await ctx.store.call(['GET', ctx.keys.lease(leaseName(env))])) }
}

export const renewLease = (ctx: Context, env: string, token: string) => ctx.store.runScript(compareAndExpire, [ctx.keys.lease(leaseName(env))], [token, LEASE_TTL_MS])
export const releaseLease = (ctx: Context, env: string, token: string) => ctx.store.runScript(compareAndDelete, [ctx.keys.lease(leaseName(env))], [token])
