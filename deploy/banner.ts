import type { Config } from '../shared/config.ts'

/** Says plainly where state lives, so nobody mistakes the embedded demo for a persistent setup. */
export function startupBanner(config: Config, url: string): string {
  const lines = [`bannou-orchestrator listening on ${url}`]
  if (config.embedded) {
    lines.push(
      'EMBEDDED MODE: state is kept in this process only and is NOT persisted; events are delivered in-process.',
      '  Set ORCHESTRATOR_REDIS_CONNECTION (e.g. 127.0.0.1:6379) to keep state in Redis,',
      '  and ORCHESTRATOR_RABBITMQ_CONNECTION (e.g. amqp://guest:guest@127.0.0.1:5672) to publish events to RabbitMQ.',
    )
  } else {
    lines.push(`state: ${config.store}${config.redisConnection ? ` (${config.redisConnection.replace(/\/\/[^@]*@/, '//***@')})` : ''}`)
    lines.push(`events: ${config.rabbitmqConnection ? 'RabbitMQ' : 'not published (ORCHESTRATOR_RABBITMQ_CONNECTION is not set)'}`)
  }
  return lines.join('\n')
}
