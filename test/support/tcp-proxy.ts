import { createServer, connect, type Socket } from 'node:net'
import type { AddressInfo } from 'node:net'

/**
 * A TCP proxy on 127.0.0.1 between a client and a real server, to simulate outages without
 * stopping the machine's shared Redis/RabbitMQ. `cut()` drops every connection and refuses
 * new ones; `blackhole()` keeps sockets open but forwards nothing (a half-open network);
 * `restore()` forwards again.
 */
export interface TcpProxy {
  port: number
  address: string
  cut(): void
  blackhole(): void
  restore(): void
  close(): Promise<void>
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  let mode: 'open' | 'cut' | 'blackhole' = 'open'
  const sockets = new Set<Socket>()
  const server = createServer((client) => {
    if (mode !== 'open') return void client.destroy()
    const upstream = connect(targetPort, targetHost)
    sockets.add(client)
    sockets.add(upstream)
    const forward = (from: Socket, to: Socket) =>
      from.on('data', (d) => {
        if (mode === 'open') to.write(d)
      })
    forward(client, upstream)
    forward(upstream, client)
    const end = () => {
      client.destroy()
      upstream.destroy()
      sockets.delete(client)
      sockets.delete(upstream)
    }
    client.on('close', end).on('error', end)
    upstream.on('close', end).on('error', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const port = (server.address() as AddressInfo).port
  return {
    port,
    address: `127.0.0.1:${port}`,
    cut: () => {
      mode = 'cut'
      for (const s of sockets) s.destroy()
      sockets.clear()
    },
    blackhole: () => {
      mode = 'blackhole'
    },
    restore: () => {
      mode = 'open'
    },
    close: async () => {
      mode = 'cut'
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
  }
}
