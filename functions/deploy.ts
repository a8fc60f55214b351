import * as v from 'valibot'
import { badRequest, OrchestratorError } from '../shared/errors.ts'
import { defineFunction, respond } from '../shared/function.ts'
import { startDeployment, type DeploySource } from '../shared/environments/engine.ts'
import { Count, EnvironmentName, Flag } from './inputs.ts'

const location = (id: string) => `/orchestrator/deployments/${id}`

export default defineFunction({
  name: 'deploy',
  method: 'POST',
  path: '/orchestrator/deploy',
  permission: 'operator',
  runtime: 'node',
  summary:
    'Deploy a preset, an inline topology or an older revision: 202 + Location at once (or wait: true), dryRun returns the plan; verified by heartbeat, rolled back on failure',
  input: v.object({
    environment: EnvironmentName,
    preset: v.optional(v.pipe(v.string(), v.minLength(1, 'must not be empty'))),
    topology: v.optional(v.unknown()),
    revision: v.optional(Count(1, 1_000_000)),
    wait: v.optional(Flag, false),
    dryRun: v.optional(Flag, false),
    autoRollback: v.optional(Flag, true),
    verifyTimeoutSeconds: v.optional(Count(1, 3600)),
  }),
  output: v.looseObject({}),
  handler: async (input, ctx, meta) => {
    const given = (['preset', 'topology', 'revision'] as const).filter((k) => input[k] !== undefined)
    if (given.length !== 1) {
      throw badRequest('Give exactly one of preset, topology or revision.', [{ field: given[1] ?? 'preset', message: 'give exactly one of preset, topology or revision' }])
    }
    const source: DeploySource =
      input.preset !== undefined ? { kind: 'preset', name: input.preset } : input.topology !== undefined ? { kind: 'topology', topology: input.topology } : { kind: 'revision', number: input.revision! }
    const started = await startDeployment(ctx, {
      environment: input.environment,
      source,
      dryRun: input.dryRun,
      autoRollback: input.autoRollback,
      verifyTimeoutSeconds: input.verifyTimeoutSeconds,
      requestedBy: meta.principal ?? 'anonymous',
    })
    if (started.dryRun) return { ...started, changes: started.plan.actions.filter((a) => a.action !== 'unchanged') }
    const { record, done } = started
    const headers = { location: location(record.id) }
    if (!input.wait) return respond(202, { deploymentId: record.id, location: location(record.id), ...record }, headers)
    const d = ctx.config.deploy
    const boundMs = (d.infrastructureWaitSeconds + (input.verifyTimeoutSeconds ?? d.verifyTimeoutSeconds) + 60) * 1000
    let timer: ReturnType<typeof setTimeout> | undefined
    const finished = await Promise.race([done, new Promise<null>((r) => (timer = setTimeout(() => r(null), boundMs)))])
    clearTimeout(timer)
    if (!finished) return respond(202, { deploymentId: record.id, location: location(record.id), ...record }, headers)
    if (finished.status === 'succeeded') return respond(200, { deploymentId: finished.id, location: location(finished.id), ...finished }, headers)
    throw new OrchestratorError({
      status: 502,
      code: 'deployment-failed',
      title: 'Deployment failed',
      detail: `${finished.result?.error ?? 'failed'}${finished.status === 'rolled-back' ? ` (rolled back to ${finished.result?.rolledBackTo === null ? 'nothing: the units it created were removed' : `revision ${finished.result?.rolledBackTo}`})` : ''}`,
      extra: { deploymentId: finished.id, location: location(finished.id), deployment: finished },
    })
  },
})
