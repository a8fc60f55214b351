import * as v from 'valibot'
import { selectBackend } from '../shared/backends/registry.ts'
import { defineFunction } from '../shared/function.ts'
import { Flag } from './inputs.ts'

export default defineFunction({
  name: 'clean',
  method: 'POST',
  path: '/orchestrator/clean',
  permission: 'admin',
  runtime: 'node',
  summary: 'Remove orchestrator-labelled stopped containers, idle networks, unused images it built and dangling volumes; dryRun reports only',
  input: v.object({ dryRun: v.optional(Flag, false) }),
  output: v.looseObject({ dryRun: v.boolean(), reclaimedBytes: v.number() }),
  handler: async ({ dryRun }, ctx) => {
    const backend = await selectBackend(ctx)
    return { dryRun, backend: backend.name, ...(await backend.prune({ dryRun })) }
  },
})
