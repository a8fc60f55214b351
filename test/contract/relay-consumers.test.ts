import { afterEach, describe, expect, it } from 'vitest'
import type { Context } from '../../shared/context.ts'
import { pruneRelayConsumers } from '../../shared/events/relay-consumers.ts'
import { asArray } from '../../shared/store/ops.ts'
import { disposeContext, testContext } from '../support/context.ts'
import { connected } from '../support/scheduler.ts'

/**
 * Pruning the outbox group's consumers must never drop a pending entry: only consumers idle
 * past the limit with nothing pending go, never the caller itself, on Redis and in memory.
 */
const contexts: Context[] = []
afterEach(async () => {
  await Promise.all(contexts.splice(0).map(disposeContext))
})

describe.each(['redis', 'memory'] as const)('pruneRelayConsumers (%s)', (driver) => {
  it('removes idle consumers with nothing pending and keeps the rest', async () => {
    const ctx = await connected(testContext(driver === 'memory' ? { ORCHESTRATOR_STORE: 'memory' } : {}))
    contexts.push(ctx)
    const key = ctx.keys.outbox
    const call = (name: string, ...args: (string | number)[]) => ctx.store.call([name, ...args])
    await call('XGROUP', 'CREATE', key, 'g', '0', 'MKSTREAM')
    for (const n of ['1', '2', '3']) await call('XADD', key, '*', 'n', n)
    /** The id of the one entry delivered to `consumer`. */
    const readOne = async (consumer: string) => {
      const [stream] = asArray(await call('XREADGROUP', 'GROUP', 'g', consumer, 'COUNT', 1, 'STREAMS', key, '>'))
      const [entry] = asArray(asArray(stream ?? null)[1] ?? null)
      return String(asArray(entry ?? null)[0])
    }
    await readOne('holder') // holds one entry, never acks
    await call('XACK', key, 'g', await readOne('gone')) // delivered, acked, then left
    await readOne('me')
    // As on Redis 7.0: a read that delivers nothing creates no consumer.
    await call('XREADGROUP', 'GROUP', 'g', 'idle-reader', 'STREAMS', key, '>')
    await new Promise((r) => setTimeout(r, 60))
    await call('XADD', key, '*', 'n', '4')
    await readOne('recent')

    expect(await pruneRelayConsumers(ctx.store, key, 'g', { self: 'me', idleMs: 50 })).toEqual(['gone'])
    const names = asArray(await call('XINFO', 'CONSUMERS', key, 'g')).map((c) => String(asArray(c)[1])).sort()
    expect(names).toEqual(['holder', 'me', 'recent'])
    expect(Number(asArray(await call('XPENDING', key, 'g'))[0])).toBe(3) // holder, me, recent: nothing dropped
    // Nothing idle enough: nothing to do (and no script call).
    expect(await pruneRelayConsumers(ctx.store, key, 'g', { self: 'me', idleMs: 60_000 })).toEqual([])
  })
})
