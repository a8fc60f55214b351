import { Redis } from '@upstash/redis'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { startUpstashProxy, type UpstashProxy } from '../../deploy/upstash-proxy.ts'
import { createUpstashStore } from '../../shared/store/drivers/upstash.ts'
import { StoreUnavailableError } from '../../shared/store/types.ts'
import { deletePrefix, REDIS, uniquePrefix } from '../support/context.ts'

/**
 * The edge driver speaks the Upstash REST protocol without the official client, so the
 * protocol itself is pinned here: the official @upstash/redis client (base64 replies, its
 * own pipeline and transaction calls) must work against the same REST server the driver is
 * tested with, and the driver must tell Redis errors from an unusable endpoint.
 */
const TOKEN = 'protocol-token'
let proxy: UpstashProxy
const p = uniquePrefix('upstash-protocol')

beforeAll(async () => {
  proxy = await startUpstashProxy({ redis: REDIS, token: TOKEN })
})
afterAll(async () => {
  await deletePrefix(p)
  await proxy.close()
})

describe('the official @upstash/redis client against deploy/upstash-proxy.ts', () => {
  const official = () => new Redis({ url: proxy.url, token: TOKEN, automaticDeserialization: false, enableTelemetry: false, retry: false })

  it('single commands, with base64-encoded replies decoded by the client', async () => {
    const r = official()
    expect(await r.set(`${p}s`, 'hello wörld ✓')).toBe('OK')
    expect(await r.get(`${p}s`)).toBe('hello wörld ✓')
    await r.hset(`${p}h`, { a: '1', b: 'OK' })
    // automaticDeserialization is off (as the orchestrator would run it): Redis's own flat reply
    expect(await r.hgetall(`${p}h`)).toEqual(['a', '1', 'b', 'OK'])
    expect(await r.eval('return {KEYS[1], ARGV[1]}', [`${p}k`], ['v'])).toEqual([`${p}k`, 'v'])
  })

  it('pipeline and multi-exec', async () => {
    const r = official()
    const pipe = r.pipeline()
    pipe.incr(`${p}n`)
    pipe.incr(`${p}n`)
    expect(await pipe.exec()).toEqual([1, 2])
    const tx = r.multi()
    tx.set(`${p}t`, 'x')
    tx.get(`${p}t`)
    expect(await tx.exec()).toEqual(['OK', 'x'])
  })

  it('the official client and the driver read each other’s writes', async () => {
    const store = createUpstashStore({ url: proxy.url, token: TOKEN })
    await official().set(`${p}shared`, 'from-official')
    expect(await store.call(['GET', `${p}shared`])).toBe('from-official')
    await store.call(['SET', `${p}shared`, 'from-driver'])
    expect(await official().get(`${p}shared`)).toBe('from-driver')
  })
})

describe('the REST driver classifies failures', () => {
  it('a Redis error is a reply error and leaves the store ready', async () => {
    const store = createUpstashStore({ url: proxy.url, token: TOKEN })
    await store.call(['SET', `${p}str`, 'x'])
    const err = await store.call(['HGET', `${p}str`, 'f']).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(Error)
    expect(err).not.toBeInstanceOf(StoreUnavailableError)
    expect((err as Error).message).toMatch(/WRONGTYPE/)
    expect(store.state()).toBe('ready')
    const batchErr = await store.pipeline([['HGET', `${p}str`, 'f']]).catch((e: unknown) => e)
    expect(batchErr).not.toBeInstanceOf(StoreUnavailableError)
  })

  it('a wrong token means unavailable, naming the reason', async () => {
    const store = createUpstashStore({ url: proxy.url, token: 'wrong' })
    const err = await store.call(['PING']).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect(store.state()).toBe('down')
    await expect(store.transaction([['PING']])).rejects.toBeInstanceOf(StoreUnavailableError)
  })

  it('a closed port and a non-JSON answer mean unavailable within the timeout', async () => {
    const closed = createUpstashStore({ url: 'http://127.0.0.1:1', token: TOKEN, timeoutMs: 500 })
    await expect(closed.call(['PING'])).rejects.toBeInstanceOf(StoreUnavailableError)
    const html = createUpstashStore({
      url: 'http://127.0.0.1:1',
      token: TOKEN,
      fetch: async () => new Response('<html>bad gateway</html>', { status: 502 }),
    })
    const err = await html.call(['PING']).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(StoreUnavailableError)
    expect((err as Error).message).toMatch(/HTTP 502/)
  })
})
