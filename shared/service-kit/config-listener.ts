import * as v from 'valibot'
import { ConfigurationChangedEvent, EXCHANGES } from '../events/schemas.ts'
import type { Logger } from '../log.ts'
import type { EventSource } from './event-source.ts'
import { errorMessage } from '../errors.ts'

const REMEMBERED_IDS = 10_000

export interface ConfigListenerOptions {
  source: EventSource
  /** Called once per distinct event with the changed keys (never values). */
  onChange: (changedKeys: string[], event: ConfigurationChangedEvent) => void | Promise<void>
  /** Default `bannou-configuration`. */
  exchange?: string
  log?: Logger
}

/**
 * The reference's self-service restart pattern, client side: every container hears which
 * configuration keys changed and decides itself whether to care (e.g. request its own
 * restart). Redeliveries are dropped by eventId. An older event arriving late is still
 * passed on: keys are additive news, unlike a mapping that a newer event replaces.
 */
export function startConfigListener(opts: ConfigListenerOptions) {
  const seen = new Set<string>()
  let lastVersion = -1
  const sub = opts.source.subscribe({ exchange: opts.exchange ?? EXCHANGES.configuration, type: 'fanout', pattern: '' }, (m) => {
    let parsed: v.SafeParseResult<typeof ConfigurationChangedEvent>
    try {
      parsed = v.safeParse(ConfigurationChangedEvent, JSON.parse(m.body))
    } catch {
      parsed = { success: false } as v.SafeParseResult<typeof ConfigurationChangedEvent>
    }
    if (!parsed.success) return opts.log?.warn('ignoring an invalid ConfigurationChangedEvent', { messageId: m.messageId })
    const e = parsed.output
    if (seen.has(e.eventId)) return
    seen.add(e.eventId)
    if (seen.size > REMEMBERED_IDS) seen.delete(seen.values().next().value!)
    lastVersion = Math.max(lastVersion, e.configVersion)
    void Promise.resolve()
      .then(() => opts.onChange(e.changedKeys, e))
      .catch((err: unknown) => opts.log?.warn('configuration change handler failed', { error: errorMessage(err) }))
  })
  return {
    ready: sub.ready,
    /** Highest configVersion heard so far (-1 before the first event). */
    lastVersion: () => lastVersion,
    stop: () => sub.close(),
  }
}
