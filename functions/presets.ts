import * as v from 'valibot'
import { defineFunction } from '../shared/function.ts'
import { loadPresets } from '../shared/presets/load.ts'

export default defineFunction({
  name: 'presets',
  method: 'GET',
  path: '/orchestrator/presets',
  permission: 'viewer',
  runtime: 'edge',
  summary: 'Deployment presets with their nodes, services and infrastructure; invalid user presets are listed under problems',
  input: v.object({}),
  output: v.object({
    presets: v.array(v.object({ name: v.string(), nodes: v.array(v.object({ name: v.string(), services: v.array(v.string()) })) })),
    problems: v.array(v.object({ file: v.string(), field: v.string(), message: v.string() })),
  }),
  handler: async (_input, ctx) => loadPresets(ctx),
})
