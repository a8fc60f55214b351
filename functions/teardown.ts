import * as v from 'valibot'
import { defineFunction } from '../shared/function.ts'
import { teardownEnvironment } from '../shared/environments/teardown.ts'
import { Count, EnvironmentName, Flag } from './inputs.ts'

export default defineFunction({
  name: 'teardown',
  method: 'POST',
  path: '/orchestrator/teardown',
  permission: 'operator',
  runtime: 'node',
  summary: 'Stop (with a grace period) and remove every unit of an environment; unregister its services',
  input: v.object({
    environment: EnvironmentName,
    removeVolumes: v.optional(Flag, false),
    gracePeriodSeconds: v.optional(Count(0, 600)),
  }),
  output: v.looseObject({ environment: v.string(), removed: v.array(v.string()) }),
  handler: async (input, ctx) => ({ ...(await teardownEnvironment(ctx, input.environment, { removeVolumes: input.removeVolumes, graceSeconds: input.gracePeriodSeconds })) }),
})
