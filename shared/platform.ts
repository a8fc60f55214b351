import type { BackendDriver } from './backends/types.ts'
import type { BackendName, Config } from './config.ts'
import type { Broker } from './events/broker.ts'
import type { Logger } from './log.ts'
import type { Store } from './store/types.ts'

/**
 * What a runtime provides. The Node platform (deploy/platform-node.ts) brings ioredis,
 * amqplib and the filesystem; edge runtimes bring only what runs on fetch. The core never
 * imports a Node-only module itself, so every edge bundle stays free of them.
 */
export interface Platform {
  name: 'node' | 'deno' | 'edge'
  createStore?(config: Config, log: Logger): Store
  /**
   * The in-process store of embedded mode. Only single-process runtimes offer it: edge
   * isolates share no memory, so state kept in one would vanish with it.
   */
  createMemoryStore?(): Store
  createBroker?(config: Config, log: Logger): Broker
  /** Reads and parses user preset files. Absent on edge runtimes. */
  readPresetFiles?(directory: string): Promise<({ file: string; document: unknown } | { file: string; error: string })[]>
  /** Container backends this runtime can drive (dockerode needs Node). */
  backendDrivers?: Partial<Record<BackendName, BackendDriver>>
  /** Protocol-level check of an infrastructure server (Redis PING, AMQP open, MySQL handshake). */
  checkInfrastructure?(kind: 'redis' | 'rabbitmq' | 'mysql', address: string, timeoutMs: number): Promise<{ ok: boolean; detail: string }>
}

export const edgePlatform: Platform = { name: 'edge' }
