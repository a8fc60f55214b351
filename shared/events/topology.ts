import { EXCHANGES, type OutboundEvent } from './schemas.ts'

/** The three exchange names; injectable so tests (and tenants) can use their own. */
export interface ExchangeNames {
  serviceMappings: string
  configuration: string
  orchestrator: string
}

export type ExchangeType = 'topic' | 'fanout'

const TYPE_OF_KIND: Record<OutboundEvent['kind'], ExchangeType> = {
  'service-mapping': 'topic',
  configuration: 'fanout',
  lifecycle: 'topic',
}
export const exchangeTypeOf = (kind: string): ExchangeType => TYPE_OF_KIND[kind as OutboundEvent['kind']] ?? 'topic'

/** What the relay declares at connect and after every reconnect (all durable). */
export function topology(names: ExchangeNames = EXCHANGES): { name: string; type: ExchangeType }[] {
  return [
    { name: names.serviceMappings, type: 'topic' },
    { name: names.configuration, type: 'fanout' },
    { name: names.orchestrator, type: 'topic' },
  ]
}

/** Unique names for one test run: `<tag>.bannou-service-mappings` and so on. */
export const prefixedExchanges = (tag: string): ExchangeNames => ({
  serviceMappings: `${tag}.${EXCHANGES.serviceMappings}`,
  configuration: `${tag}.${EXCHANGES.configuration}`,
  orchestrator: `${tag}.${EXCHANGES.orchestrator}`,
})
