/**
 * Outbox → RabbitMQ relay throughput and lag, against the real Redis and RabbitMQ on
 * 127.0.0.1, with publisher confirms and a bound consumer. Phase 1 emits N events (one
 * emit() = one MULTI per event, 64 callers at once) while the relay runs: emit rate, relay
 * rate and per-event lag emit → broker confirm. Phase 2 drains a backlog of N events: the
 * relay's own throughput.
 *
 *   npx tsx bench/event-relay.ts [--quick]      (last stdout line: one JSON object)
 */
import amqp from 'amqplib'
import { nodePlatform } from '../deploy/platform-node.ts'
import { loadConfig } from '../shared/config.ts'
import { createContext } from '../shared/context.ts'
import { createAmqpBroker } from '../shared/events/amqp-broker.ts'
import { createEventMetrics } from '../shared/events/metrics.ts'
import { emit } from '../shared/events/outbox.ts'
import { startRelay } from '../shared/events/relay.ts'
import { stamp, type LifecycleEvent } from '../shared/events/schemas.ts'
import { prefixedExchanges } from '../shared/events/topology.ts'
import { silentLogger } from '../shared/log.ts'
import { asArray } from '../shared/store/ops.ts'

const quick = process.argv.includes('--quick')
const total = quick ? 10_000 : 50_000
const callers = 64
const RABBITMQ = process.env.BENCH_RABBITMQ ?? 'amqp://guest:guest@127.0.0.1:5672'
const tag = `bench-${Date.now().toString(36)}`
const exchanges = prefixedExchanges(tag)
const prefix = `test:${tag}:`

const ctx = createContext(loadConfig({ ORCHESTRATOR_REDIS_CONNECTION: '127.0.0.1:6379', ORCHESTRATOR_KEY_PREFIX: prefix, ORCHESTRATOR_LOG_LEVEL: 'silent' }), nodePlatform, { log: silentLogger })
const broker = createAmqpBroker(RABBITMQ)
await broker.ready(10_000)
for (let i = 0; i < 100 && ctx.store.state() !== 'ready'; i++) await new Promise((r) => setTimeout(r, 50))

// A consumer bound to the exchange, as Bannou services would be.
const conn = await amqp.connect(RABBITMQ)
const ch = await conn.createChannel()
await ch.assertExchange(exchanges.orchestrator, 'topic', { durable: true })
const { queue } = await ch.assertQueue('', { exclusive: true, autoDelete: true })
await ch.bindQueue(queue, exchanges.orchestrator, '#')
const seen = new Set<string>()
let delivered = 0
await ch.consume(queue, (m) => {
  if (!m) return
  delivered++
  seen.add(String(m.properties.messageId))
}, { noAck: true })

const metrics = createEventMetrics()
const emitter = { store: ctx.store, keys: ctx.keys, exchanges, metrics }
const event = (n: number) => ({ kind: 'lifecycle' as const, event: stamp({ type: 'deployment.succeeded' as const, source: 'orchestrator' as const, environment: 'bench', data: { n } }) as LifecycleEvent })
const waitUntil = async (done: () => boolean, ms = 120_000) => {
  const deadline = Date.now() + ms
  while (!done() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
}

/** Runs a relay until `count` more confirms; returns per-event lags and the publish→confirm window. */
function measure(count: number) {
  const lags: number[] = []
  let first = 0
  let last = 0
  const target = metrics.confirmed + count
  const relay = startRelay(ctx, {
    broker,
    exchanges,
    metrics,
    onPublished: () => (first ||= performance.now()),
    onConfirmed: (batch, at) => {
      last = performance.now()
      for (const m of batch) lags.push(at - m.emittedAt)
    },
  })
  return { relay, lags, done: () => metrics.confirmed >= target, window: () => (last - first) / 1000 }
}

// Phase 1 (live): the relay runs while 64 callers emit one event per emit() call (one MULTI
// each), as domain code does. Lag = emit → broker confirm.
const live = measure(total)
const emitStart = performance.now()
let next = 0
await Promise.all(
  Array.from({ length: callers }, async () => {
    while (next < total) await emit(emitter, [event(next++)])
  }),
)
const emitMs = performance.now() - emitStart
await waitUntil(live.done)
await live.relay.stop()

// Phase 2 (backlog): the same number of events is already in the outbox (a broker outage
// just ended); the relay drains it. This is the relay's own capacity.
for (let i = 0; i < total; i += 500) await emit(emitter, Array.from({ length: Math.min(500, total - i) }, (_, j) => event(i + j)))
const drain = measure(total)
await waitUntil(drain.done)
await waitUntil(() => seen.size >= 2 * total, 10_000)
const left = Number(await ctx.store.call(['XLEN', ctx.keys.outbox]))
const pending = Number(asArray(await ctx.store.call(['XPENDING', ctx.keys.outbox, 'outbox-relay']))[0])
await drain.relay.stop()

await ch.close().catch(() => {})
for (const n of Object.values(exchanges)) await (await conn.createChannel()).deleteExchange(n).catch(() => {})
await conn.close().catch(() => {})
await ctx.store.call(['DEL', ctx.keys.outbox])
await broker.close()
await ctx.close()

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN
const result = {
  bench: 'event-relay',
  events: total,
  quick,
  emitCallers: callers,
  emitPerSec: Math.round(total / (emitMs / 1000)),
  liveRelayMsgPerSec: Math.round(total / live.window()),
  lagP50Ms: pct(live.lags, 50),
  lagP99Ms: pct(live.lags, 99),
  lagMaxMs: Math.max(...live.lags),
  drainRelayMsgPerSec: Math.round(total / drain.window()),
  confirmed: metrics.confirmed,
  deliveredUnique: seen.size,
  duplicates: delivered - seen.size,
  outboxLeft: left,
  pendingLeft: pending,
  targetMsgPerSec: 10_000,
  targetLagP99Ms: 1000,
}
console.log(JSON.stringify(result))
process.exit(result.deliveredUnique === 2 * total && left === 0 ? 0 : 1)
