import * as v from 'valibot'
import { defineFunction } from '../shared/function.ts'
import { listRuns } from '../shared/environments/records.ts'
import { Count } from './inputs.ts'

export default defineFunction({
  name: 'deployments',
  method: 'GET',
  path: '/orchestrator/deployments',
  permission: 'viewer',
  runtime: 'edge',
  summary: 'Deployment history, newest first (optionally of one environment)',
  input: v.object({ environment: v.optional(v.string()), limit: v.optional(Count(1, 500), 50) }),
  output: v.looseObject({ deployments: v.array(v.looseObject({})) }),
  handler: async ({ environment, limit }, ctx) => {
    const runs = await listRuns(ctx, limit, environment)
    return {
      deployments: runs.map(({ plan, progress, verification, ...r }) => ({ ...r, summary: plan.summary, location: `/orchestrator/deployments/${r.id}` })),
    }
  },
})
