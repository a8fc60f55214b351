import * as v from 'valibot'
import { defineFunction, respond } from '../shared/function.ts'
import { checkInfrastructure } from '../shared/health/infrastructure.ts'

const Component = v.object({
  name: v.picklist(['redis', 'rabbitmq', 'dapr-placement']),
  status: v.picklist(['healthy', 'unhealthy', 'not-configured', 'embedded']),
  message: v.string(),
  latencyMs: v.nullable(v.number()),
  required: v.boolean(),
})

export default defineFunction({
  name: 'health-infrastructure',
  method: 'GET',
  path: '/orchestrator/health/infrastructure',
  aliases: [{ method: 'GET', path: '/orchestrator/health' }],
  permission: 'viewer',
  runtime: 'edge',
  summary: 'Redis, RabbitMQ and Dapr placement health; 200 when healthy or degraded, 503 when unhealthy',
  input: v.object({}),
  output: v.object({
    status: v.picklist(['healthy', 'degraded', 'unhealthy']),
    checkedAt: v.string(),
    components: v.array(Component),
  }),
  handler: async (_input, ctx) => {
    const health = await checkInfrastructure(ctx)
    return respond(health.status === 'unhealthy' ? 503 : 200, health)
  },
})
