import { createServer } from 'node:net'
import type { AddressInfo } from 'node:net'
import { describe, expect, it } from 'vitest'
import { checkAmqpOpen, checkMysqlHandshake, checkRedisPing } from '../../shared/health/protocol-checks.ts'
import { startTcpProxy } from '../support/tcp-proxy.ts'

describe('infrastructure protocol checks', () => {
  it('PINGs Redis and opens an AMQP connection on the real servers; fails through a cut proxy', async () => {
    expect(await checkRedisPing('127.0.0.1:6379', 2000)).toMatchObject({ ok: true })
    expect(await checkAmqpOpen('127.0.0.1:5672', 3000)).toMatchObject({ ok: true })
    const proxy = await startTcpProxy(6379)
    try {
      proxy.blackhole()
      expect(await checkRedisPing(proxy.address, 300)).toMatchObject({ ok: false })
      proxy.cut()
      expect((await checkRedisPing(proxy.address, 1000)).ok).toBe(false)
    } finally {
      await proxy.close()
    }
    // A server that accepts the socket but does not speak Redis does not pass.
    expect((await checkRedisPing('127.0.0.1:5672', 1000)).ok).toBe(false)
  })

  it('reads a MySQL v10 handshake (a server speaking the greeting packet)', async () => {
    const greeting = Buffer.concat([Buffer.from([0x0a]), Buffer.from('8.4.0\0'), Buffer.alloc(20)])
    const server = createServer((s) => s.end(Buffer.concat([Buffer.from([greeting.length, 0, 0, 0]), greeting])))
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r))
    try {
      const r = await checkMysqlHandshake(`127.0.0.1:${(server.address() as AddressInfo).port}`, 1000)
      expect(r).toEqual({ ok: true, detail: expect.stringContaining('MySQL 8.4.0') })
    } finally {
      server.close()
    }
  })
})
