import { continuousRelayRunning, drainOutbox } from '../shared/events/relay.ts'
import { transportFor } from '../shared/events/relay-transport.ts'
import { taskInfo } from './catalog.ts'
import { defineTask } from './task.ts'

/**
 * The task form of the outbox relay, for external triggers (cron, HTTP, a serverless
 * scheduler): relays until the outbox is empty or 25 s pass. The combined server runs the
 * continuous relay instead (events must not wait 30 s), so here the task stands aside.
 */
export default defineTask({
  ...taskInfo('outbox-relay'),
  run: async (ctx, signal) => {
    if (continuousRelayRunning(ctx.keys.outbox)) return { skipped: 'the continuous relay runs in this process' }
    if (!transportFor(ctx.broker)) return { skipped: 'no broker: set ORCHESTRATOR_RABBITMQ_CONNECTION' }
    return { ...(await drainOutbox(ctx, { signal, budgetMs: 25_000 })) }
  },
})
