import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createIoredisStore } from '../../shared/store/drivers/ioredis.ts'
import { createMemoryStore } from '../../shared/store/drivers/memory.ts'
import type { Command, Reply, Store } from '../../shared/store/types.ts'
import { deletePrefix, REDIS, uniquePrefix } from '../support/context.ts'
import { waitFor } from '../support/services.ts'

/**
 * The memory driver's stream commands must answer exactly as Redis does for every command
 * the outbox relay uses. One script runs against both; replies are compared verbatim, except
 * idle times (wall-clock) and ids made by `*` (compared by shape).
 */
type Step = { cmd: Command; norm?: (r: Reply) => Reply }

const prefix = uniquePrefix('streams')
const S = `${prefix}outbox`
const idleless = (r: Reply): Reply => (Array.isArray(r) ? r.map((e) => (Array.isArray(e) && e.length === 4 ? [e[0]!, e[1]!, 'idle', e[3]!] : e)) : r)
const idShape = (r: Reply): Reply => (typeof r === 'string' && /^\d+-\d+$/.test(r) ? 'ms-seq' : r)

const script: Step[] = [
  { cmd: ['XLEN', S] },
  { cmd: ['XRANGE', S, '-', '+'] },
  { cmd: ['XGROUP', 'CREATE', S, 'g', '0'] },
  { cmd: ['XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', S, '>'] },
  { cmd: ['XGROUP', 'CREATE', S, 'g', '0', 'MKSTREAM'] },
  { cmd: ['XGROUP', 'CREATE', S, 'g', '0', 'MKSTREAM'] },
  { cmd: ['XLEN', S] },
  { cmd: ['XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', S, '>'] },
  { cmd: ['XPENDING', S, 'g'] },
  { cmd: ['XADD', S, '1-1', 'kind', 'a', 'payload', '{"n":1}'] },
  { cmd: ['XADD', S, '1-2', 'kind', 'b', 'payload', '{"n":2}'] },
  { cmd: ['XADD', S, '5-0', 'kind', 'c', 'payload', '{"n":3}'] },
  { cmd: ['XADD', S, '5-1', 'kind', 'd', 'payload', '{"n":4}'] },
  { cmd: ['XADD', S, '7-0', 'kind', 'e', 'payload', '{"n":5}'] },
  { cmd: ['XADD', S, '3-0', 'kind', 'late'] },
  { cmd: ['XLEN', S] },
  { cmd: ['XRANGE', S, '-', '+'] },
  { cmd: ['XRANGE', S, '1-2', '5'] },
  { cmd: ['XRANGE', S, '(1-2', '+', 'COUNT', 2] },
  { cmd: ['XRANGE', S, '-', '(5-1'] },
  { cmd: ['XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', 2, 'STREAMS', S, '>'] },
  { cmd: ['XREADGROUP', 'GROUP', 'g', 'c2', 'COUNT', 2, 'STREAMS', S, '>'] },
  { cmd: ['XPENDING', S, 'g'] },
  { cmd: ['XPENDING', S, 'g', '-', '+', 10], norm: idleless },
  { cmd: ['XPENDING', S, 'g', '-', '+', 10, 'c2'], norm: idleless },
  // History read: own pending entries, delivery count goes up.
  { cmd: ['XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', S, '0'] },
  { cmd: ['XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', S, '1-1'] },
  { cmd: ['XPENDING', S, 'g', '-', '+', 10], norm: idleless },
  { cmd: ['XACK', S, 'g', '1-1', '9-9'] },
  { cmd: ['XDEL', S, '1-1', '1-2', '9-9'] },
  // 1-2 is deleted but still pending for c1: history shows [id, nil].
  { cmd: ['XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', 10, 'STREAMS', S, '0'] },
  { cmd: ['XAUTOCLAIM', S, 'g', 'c3', 3_600_000, '0-0'] },
  { cmd: ['XAUTOCLAIM', S, 'g', 'c3', 0, '0-0', 'COUNT', 1] },
  { cmd: ['XAUTOCLAIM', S, 'g', 'c3', 0, '0-0', 'COUNT', 1] },
  { cmd: ['XAUTOCLAIM', S, 'g', 'c3', 0, '5-1', 'COUNT', 10] },
  { cmd: ['XAUTOCLAIM', S, 'g', 'c3', 0, '0-0', 'JUSTID'] },
  { cmd: ['XPENDING', S, 'g'] },
  { cmd: ['XPENDING', S, 'g', '-', '+', 10], norm: idleless },
  { cmd: ['XREADGROUP', 'GROUP', 'g', 'c3', 'COUNT', 10, 'STREAMS', S, '>'] },
  { cmd: ['XACK', S, 'g', '5-0', '5-1'] },
  { cmd: ['XDEL', S, '5-0', '5-1'] },
  { cmd: ['XPENDING', S, 'g'] },
  { cmd: ['XADD', S, '*', 'kind', 'auto'], norm: idShape },
  { cmd: ['XADD', S, '*', 'kind', 'auto2'], norm: idShape },
  { cmd: ['XLEN', S] },
  { cmd: ['XREADGROUP', 'GROUP', 'g', 'c1', 'COUNT', 1, 'STREAMS', S, '>'], norm: (r) => JSON.parse(JSON.stringify(r).replace(/"\d+-\d+"/g, '"id"')) as Reply },
  { cmd: ['XINFO', 'CONSUMERS', S, 'g'], norm: (r) => JSON.parse(JSON.stringify(r).replace(/"idle",\d+/g, '"idle",0')) as Reply },
  { cmd: ['XGROUP', 'DELCONSUMER', S, 'g', 'c1'] },
  { cmd: ['XINFO', 'CONSUMERS', S, 'g'], norm: (r) => JSON.parse(JSON.stringify(r).replace(/"idle",\d+/g, '"idle",0')) as Reply },
  { cmd: ['XPENDING', S, 'g'] },
  { cmd: ['XREADGROUP', 'GROUP', 'nope', 'c1', 'STREAMS', S, '>'] },
  { cmd: ['XADD', `${S}:capped`, 'MAXLEN', '2', '1-0', 'a', '1'] },
  { cmd: ['XADD', `${S}:capped`, 'MAXLEN', '2', '2-0', 'a', '2'] },
  { cmd: ['XADD', `${S}:capped`, 'MAXLEN', '2', '3-0', 'a', '3'] },
  { cmd: ['XRANGE', `${S}:capped`, '-', '+'] },
  { cmd: ['XADD', `${S}:none`, 'NOMKSTREAM', '*', 'a', '1'] },
  { cmd: ['XGROUP', 'DESTROY', S, 'g'] },
  { cmd: ['XGROUP', 'DESTROY', S, 'g'] },
]

async function runAll(store: Store) {
  const out: unknown[] = []
  for (const step of script) {
    try {
      const r = await store.call(step.cmd)
      out.push(step.norm ? step.norm(r) : r)
    } catch (e) {
      // Compare the error class Redis names first (ERR, NOGROUP, BUSYGROUP, WRONGTYPE).
      out.push({ error: String(e instanceof Error ? e.message : e).split(' ')[0] })
    }
  }
  return out
}

describe('memory driver streams = Redis streams', () => {
  const redis = createIoredisStore(REDIS)
  beforeAll(async () => {
    await waitFor(async () => (await redis.ping(), true), 10_000, 50)
  })
  afterAll(async () => {
    await deletePrefix(prefix, redis)
    await redis.close()
  })

  it('answers the outbox command script exactly as Redis 7 does', async () => {
    const real = await runAll(redis)
    const memory = await runAll(createMemoryStore())
    for (let i = 0; i < script.length; i++) expect({ step: i, cmd: script[i]!.cmd, reply: memory[i] }).toEqual({ step: i, cmd: script[i]!.cmd, reply: real[i] })
  })

  it('reclaims by idle time on the memory clock', async () => {
    let now = 1_000
    const m = createMemoryStore(() => now)
    await m.call(['XGROUP', 'CREATE', 'k', 'g', '0', 'MKSTREAM'])
    await m.call(['XADD', 'k', '*', 'a', '1'])
    await m.call(['XREADGROUP', 'GROUP', 'g', 'dead', 'STREAMS', 'k', '>'])
    expect(await m.call(['XAUTOCLAIM', 'k', 'g', 'live', 500, '0'])).toEqual(['0-0', [], []])
    now += 600
    expect(await m.call(['XAUTOCLAIM', 'k', 'g', 'live', 500, '0'])).toEqual(['0-0', [['1000-0', ['a', '1']]], []])
    expect(await m.call(['XPENDING', 'k', 'g', 'IDLE', 0, '-', '+', 10])).toEqual([['1000-0', 'live', 0, 2]])
  })
})
