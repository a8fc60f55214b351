import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { createComposeBackend } from '../shared/backends/compose/index.ts'
import { createSwarmBackend } from '../shared/backends/swarm/index.ts'
import { checkInfrastructureServer } from '../shared/health/protocol-checks.ts'
import { createAmqpBroker } from '../shared/events/amqp-broker.ts'
import { declareTopologyOn } from '../shared/events/relay-transport.ts'
import { parseYamlDocument } from '../shared/presets/yaml.ts'
import type { Platform } from '../shared/platform.ts'
import { createIoredisStore } from '../shared/store/drivers/ioredis.ts'
import { createMemoryStore } from '../shared/store/drivers/memory.ts'

/** Node (and Deno, through its Node compatibility) brings TCP Redis, AMQP and the filesystem. */
export const nodePlatform: Platform = {
  name: 'node',
  createStore: (config, log) =>
    createIoredisStore(config.redisConnection!, {
      onStateChange: (state, error) =>
        state === 'ready' ? log.info('Redis connected') : log.warn(`Redis ${state}; retrying with backoff (1 s → 30 s)`, { error: error?.message }),
    }),
  createMemoryStore: () => createMemoryStore(),
  createBroker: (config, log) =>
    createAmqpBroker(config.rabbitmqConnection!, {
      log,
      // The exchanges exist from the first connect (and again after every reconnect), even
      // before the first event, so consumers can bind early.
      onConnected: (conn) => declareTopologyOn(conn).catch((e: Error) => log.warn('could not declare RabbitMQ exchanges', { error: e.message })),
    }),
  readPresetFiles: async (directory) => {
    const files = (await readdir(directory)).filter((f) => /\.ya?ml$/.test(f)).sort()
    return Promise.all(files.map(async (f) => ({ file: join(directory, f), ...parseYamlDocument(await readFile(join(directory, f), 'utf8')) })))
  },
  backendDrivers: { compose: (config) => createComposeBackend(config), swarm: (config) => createSwarmBackend(config) },
  checkInfrastructure: checkInfrastructureServer,
}
