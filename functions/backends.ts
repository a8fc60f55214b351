import * as v from 'valibot'
import { detect } from '../shared/backends/detection.ts'
import { defineFunction } from '../shared/function.ts'
import { Flag } from './inputs.ts'

export default defineFunction({
  name: 'backends',
  method: 'GET',
  path: '/orchestrator/backends',
  permission: 'viewer',
  runtime: 'node',
  summary: 'Every container backend in priority order (kubernetes > portainer > swarm > compose): availability, reason, version, capabilities, and which one is selected',
  input: v.object({ refresh: v.optional(Flag, false) }),
  output: v.looseObject({ selected: v.nullable(v.string()), backends: v.array(v.unknown()) }),
  handler: async ({ refresh }, ctx) => ({ ...(await detect(ctx, { refresh })) }),
})
