import * as v from 'valibot'
import { defineFunction } from '../shared/function.ts'
import { PresetNode } from '../shared/presets/schema.ts'
import { changeTopology, type TopologyChange } from '../shared/environments/topology.ts'
import { EnvironmentName, Flag } from './inputs.ts'

const nodeName = v.pipe(v.string('must be a string'), v.minLength(1, 'must not be empty'))
const Change = v.variant('action', [
  v.object({ action: v.literal('move-service'), nodeName, services: v.pipe(v.array(v.pipe(v.string(), v.minLength(1))), v.minLength(1, 'name at least one service')) }),
  v.object({ action: v.literal('add-node'), nodeConfig: PresetNode }),
  v.object({ action: v.literal('remove-node'), nodeName }),
  v.object({ action: v.literal('scale'), nodeName, replicas: v.pipe(v.number(), v.integer('must be a whole number'), v.minValue(1, 'must be ≥ 1 (remove the node instead)'), v.maxValue(100, 'must be ≤ 100')) }),
  v.object({ action: v.literal('update-env'), nodeName, environment: v.record(v.pipe(v.string(), v.regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'env names are letters, digits and _')), v.nullable(v.string())) }),
], 'action must be move-service, add-node, remove-node, scale or update-env')

export default defineFunction({
  name: 'topology',
  method: 'POST',
  path: '/orchestrator/topology',
  permission: 'operator',
  runtime: 'node',
  summary: 'Live topology changes (move-service, add-node, remove-node, scale, update-env): validated as a whole, planned (dryRun), applied in order with mapping events, verified by heartbeat, rolled back on failure',
  input: v.object({
    environment: EnvironmentName,
    changes: v.pipe(v.array(Change), v.minLength(1, 'give at least one change')),
    mode: v.optional(v.picklist(['graceful', 'immediate', 'force'], 'must be graceful, immediate or force'), 'graceful'),
    dryRun: v.optional(Flag, false),
  }),
  output: v.looseObject({ environment: v.string() }),
  handler: async (input, ctx, meta) => ({ ...(await changeTopology(ctx, { ...input, changes: input.changes as TopologyChange[], requestedBy: meta.principal ?? 'anonymous' })) }),
})
