import { ConfigError } from '../shared/config.ts'
import { startNodeServer } from './serve-node.ts'

/** `npm start`: the combined Hono process on port 8090 (PORT / ORCHESTRATOR_PORT override). */
try {
  const server = await startNodeServer(process.env)
  const shutdown = async (signal: string) => {
    console.log(`${signal} received; shutting down`)
    await server.close()
    process.exit(0)
  }
  process.once('SIGTERM', () => void shutdown('SIGTERM'))
  process.once('SIGINT', () => void shutdown('SIGINT'))
} catch (e) {
  if (e instanceof ConfigError) {
    console.error(e.message)
    process.exit(2)
  }
  throw e
}
