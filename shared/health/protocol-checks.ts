import amqp from 'amqplib'
import { connect } from 'node:net'
import { errorMessage } from '../errors.ts'

/**
 * Protocol-level checks of infrastructure servers (Node-only; injected through the platform).
 * A TCP connect is not enough: a Dapr sidecar exits when the server accepts the socket but
 * does not speak its protocol yet, so each check completes the first protocol exchange.
 */
type Result = { ok: boolean; detail: string }

function talk(address: string, timeoutMs: number, greet: Buffer | null, done: (data: Buffer) => Result | null): Promise<Result> {
  const i = address.lastIndexOf(':')
  const host = address.slice(0, i)
  const port = Number(address.slice(i + 1))
  return new Promise((resolve) => {
    let buf = Buffer.alloc(0)
    let settled = false
    const finish = (r: Result) => {
      if (settled) return
      settled = true
      sock.destroy()
      resolve(r)
    }
    const sock = connect(port, host)
    sock.setTimeout(timeoutMs, () => finish({ ok: false, detail: `no answer from ${address} within ${timeoutMs} ms` }))
    sock.once('connect', () => greet && sock.write(greet))
    sock.on('data', (d: Buffer) => {
      buf = Buffer.concat([buf, d])
      const r = done(buf)
      if (r) finish(r)
    })
    sock.once('error', (e) => finish({ ok: false, detail: `${address}: ${e.message}` }))
    sock.once('close', () => finish({ ok: false, detail: `${address} closed the connection before answering` }))
  })
}

export function checkRedisPing(address: string, timeoutMs: number): Promise<Result> {
  return talk(address, timeoutMs, Buffer.from('*1\r\n$4\r\nPING\r\n'), (b) => {
    const s = b.toString()
    if (!s.includes('\r\n')) return null
    if (s.startsWith('+PONG')) return { ok: true, detail: `PING → PONG from ${address}` }
    if (s.startsWith('-NOAUTH')) return { ok: true, detail: `${address} answers (authentication required)` }
    return { ok: false, detail: `${address} answered ${JSON.stringify(s.trim().slice(0, 80))} to PING` }
  })
}

export function checkMysqlHandshake(address: string, timeoutMs: number): Promise<Result> {
  return talk(address, timeoutMs, null, (b) => {
    if (b.length < 5) return null
    const len = b.readUIntLE(0, 3)
    if (b.length < 4 + len) return null
    if (b[4] === 0x0a) {
      const end = b.indexOf(0, 5)
      return { ok: true, detail: `MySQL ${b.subarray(5, end).toString()} handshake from ${address}` }
    }
    return { ok: false, detail: `${address} refused the MySQL handshake: ${b.subarray(7, 4 + len).toString()}` }
  })
}

export async function checkAmqpOpen(address: string, timeoutMs: number): Promise<Result> {
  const url = address.includes('://') ? address : `amqp://guest:guest@${address}`
  try {
    const conn = await amqp.connect(url, { timeout: timeoutMs })
    await conn.close()
    return { ok: true, detail: `AMQP connection opened to ${address}` }
  } catch (e) {
    return { ok: false, detail: `${address}: ${errorMessage(e)}` }
  }
}

export async function checkInfrastructureServer(kind: 'redis' | 'rabbitmq' | 'mysql', address: string, timeoutMs: number): Promise<Result> {
  if (kind === 'redis') return checkRedisPing(address, timeoutMs)
  if (kind === 'rabbitmq') return checkAmqpOpen(address, timeoutMs)
  return checkMysqlHandshake(address, timeoutMs)
}
