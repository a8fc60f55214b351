import { createServer, type AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { startNodeServer } from '../../deploy/serve-node.ts'
import outboxRelay from '../../scheduler/outbox-relay.ts'
import { isEmbeddedBroker } from '../../shared/events/broker.ts'
import { emit } from '../../shared/events/outbox.ts'
import { stamp } from '../../shared/events/schemas.ts'
import { startConfigListener } from '../../shared/service-kit/config-listener.ts'
import { localEventSource } from '../../shared/service-kit/event-source.ts'
import { startMappingResolver } from '../../shared/service-kit/mapping-resolver.ts'
import { waitFor } from '../support/services.ts'

// A free port (this branch's config predates ORCHESTRATOR_PORT=0).
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })

describe('embedded mode (memory store, no RabbitMQ)', () => {
  it('the combined server relays events in-process to service-kit consumers', async () => {
    const server = await startNodeServer({ ORCHESTRATOR_PORT: String(await freePort()), ORCHESTRATOR_LISTEN_HOST: '127.0.0.1', ORCHESTRATOR_LOG_LEVEL: 'silent' }, { quiet: true })
    try {
      const { ctx } = server
      expect(ctx.store.driver).toBe('memory')
      const broker = ctx.broker
      if (!isEmbeddedBroker(broker)) throw new Error('expected the embedded broker')
      const source = localEventSource(broker.bus)
      const resolver = startMappingResolver({ source })
      const heard: string[][] = []
      startConfigListener({ source, onChange: (keys) => void heard.push(keys) })

      await emit(ctx, [
        { kind: 'service-mapping', event: stamp({ serviceName: 'auth', appId: 'bannou-auth', action: 'register' as const }) },
        { kind: 'configuration', event: stamp({ configVersion: 1, changedKeys: ['auth.token_expiry'] }) },
      ])
      expect(await waitFor(async () => resolver.getAppIdForService('auth') === 'bannou-auth' && heard.length === 1, 5000, 10)).toBe(true)
      expect(heard).toEqual([['auth.token_expiry']])
      // Relayed entries leave the outbox; the routing cache stays.
      expect(await waitFor(async () => (await ctx.store.call(['XLEN', ctx.keys.outbox])) === 0, 5000, 10)).toBe(true)
      expect(JSON.parse(String(await ctx.store.call(['GET', ctx.keys.routing('auth')])))).toMatchObject({ appId: 'bannou-auth' })
      // The continuous relay owns the outbox; the task form stands aside.
      expect(await outboxRelay.run({ ...ctx, fence: 0 }, new AbortController().signal)).toMatchObject({ skipped: expect.stringContaining('continuous') })
      await source.close()
    } finally {
      await server.close()
    }
  })
})
