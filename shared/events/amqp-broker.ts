import amqp, { type ChannelModel, type Channel } from 'amqplib'
import type { Logger } from '../log.ts'
import { withTimeout } from '../timeout.ts'
import type { Broker, BrokerState } from './broker.ts'
import { errorMessage } from '../errors.ts'

export interface AmqpBrokerOptions {
  retryBaseMs?: number
  retryMaxMs?: number
  connectTimeoutMs?: number
  log?: Logger
  /** Called after every (re)connect, e.g. to declare exchanges again. */
  onConnected?: (connection: ChannelModel) => Promise<void> | void
}

/**
 * One long-lived AMQP connection with wait-on-startup: it keeps retrying with exponential
 * backoff (1 s → 30 s by default) and reconnects by itself after an outage. It never throws
 * into callers; `check()` reports the state.
 */
export interface AmqpBroker extends Broker {
  /** The live connection, or undefined while down. */
  connection(): ChannelModel | undefined
  /** Resolves when connected (or rejects after `timeoutMs`). */
  ready(timeoutMs: number): Promise<ChannelModel>
}

export function createAmqpBroker(url: string, opts: AmqpBrokerOptions = {}): AmqpBroker {
  const base = opts.retryBaseMs ?? 1000
  const max = opts.retryMaxMs ?? 30_000
  let state: BrokerState = 'connecting'
  let conn: ChannelModel | undefined
  let probe: Channel | undefined
  let attempt = 0
  let timer: ReturnType<typeof setTimeout> | undefined
  let closed = false
  let lastError = ''
  const waiters = new Set<(c: ChannelModel) => void>()

  const scheduleReconnect = () => {
    if (closed || timer) return
    const delay = Math.min(base * 2 ** attempt, max)
    attempt++
    timer = setTimeout(() => {
      timer = undefined
      void connect()
    }, delay)
    timer.unref?.()
  }

  const connect = async () => {
    if (closed) return
    try {
      const timeoutMs = opts.connectTimeoutMs ?? 5000
      // `timeout` covers the TCP connect only; a peer that accepts and then says nothing
      // (a half-open network) would stall the handshake forever without the outer bound.
      const attemptConnect = amqp.connect(url, { timeout: timeoutMs })
      const c = await withTimeout(attemptConnect, timeoutMs * 2, 'RabbitMQ handshake').catch((e: unknown) => {
        void attemptConnect.then((late) => late.close().catch(() => {}), () => {})
        throw e
      })
      if (closed) return void c.close().catch(() => {})
      c.on('error', (e: Error) => {
        lastError = e.message
      })
      c.on('close', () => {
        if (conn !== c) return
        conn = undefined
        probe = undefined
        state = closed ? 'down' : 'connecting'
        if (!closed) {
          opts.log?.warn('RabbitMQ connection lost; reconnecting', { error: lastError })
          scheduleReconnect()
        }
      })
      conn = c
      attempt = 0
      state = 'ready'
      opts.log?.info('RabbitMQ connected')
      await opts.onConnected?.(c)
      for (const w of waiters) w(c)
      waiters.clear()
    } catch (e) {
      lastError = errorMessage(e)
      state = 'down'
      opts.log?.debug('amqp connect failed', { error: lastError })
      if (attempt === 0) opts.log?.warn('RabbitMQ not reachable yet; retrying with backoff', { error: lastError })
      scheduleReconnect()
    }
  }
  void connect()

  return {
    state: () => state,
    connection: () => conn,
    ready: (timeoutMs) =>
      conn
        ? Promise.resolve(conn)
        : new Promise((resolve, reject) => {
            const t = setTimeout(() => {
              waiters.delete(resolve)
              reject(new Error(`RabbitMQ not connected within ${timeoutMs} ms: ${lastError || state}`))
            }, timeoutMs)
            waiters.add((c) => {
              clearTimeout(t)
              resolve(c)
            })
          }),
    check: async () => {
      const c = conn
      if (!c) return { ok: false, state, message: `not connected${lastError ? `: ${lastError}` : ''} (retrying with backoff)` }
      const start = performance.now()
      try {
        // A cheap round trip on a kept channel proves the connection answers, not just that a socket exists.
        probe ??= await c.createChannel()
        await probe.checkExchange('amq.topic')
        return { ok: true, state: 'ready', message: 'connection and channel open', latencyMs: performance.now() - start }
      } catch (e) {
        probe = undefined
        return { ok: false, state, message: errorMessage(e) }
      }
    },
    close: async () => {
      closed = true
      if (timer) clearTimeout(timer)
      state = 'down'
      const c = conn
      conn = undefined
      await c?.close().catch(() => {})
    },
  }
}
