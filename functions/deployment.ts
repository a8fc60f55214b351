import * as v from 'valibot'
import { notFound } from '../shared/errors.ts'
import { defineFunction } from '../shared/function.ts'
import { readRun } from '../shared/environments/records.ts'

export default defineFunction({
  name: 'deployment',
  method: 'GET',
  path: '/orchestrator/deployments/:id',
  permission: 'viewer',
  runtime: 'edge',
  summary: 'One deployment: plan, stage, what it waits for, per-unit progress, verification and result',
  input: v.object({ id: v.pipe(v.string(), v.uuid('must be a deployment id (UUID)')) }),
  output: v.looseObject({ id: v.string() }),
  handler: async ({ id }, ctx) => {
    const r = await readRun(ctx, id)
    if (!r) throw notFound(`No deployment ${id} (records are kept for 7 days).`)
    return { ...r }
  },
})
