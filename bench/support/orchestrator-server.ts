import { startNodeServer } from '../../deploy/serve-node.ts'

const server = await startNodeServer({ ...process.env, ORCHESTRATOR_PORT: '0', ORCHESTRATOR_LISTEN_HOST: '127.0.0.1' }, { quiet: true, scheduler: false })
console.log(`LISTENING ${server.url}`)
process.once('SIGTERM', () => void server.close().then(() => process.exit(0)))
