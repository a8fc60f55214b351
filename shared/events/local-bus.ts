/**
 * The in-process stand-in for RabbitMQ in embedded mode (memory store, no broker): the relay
 * publishes here instead of on a confirm channel, and service-kit consumers in the same
 * process subscribe here. Same exchange/routing-key semantics as AMQP topic and fanout
 * exchanges, so code written against one works against the other.
 */
export interface BusMessage {
  exchange: string
  routingKey: string
  body: string
  messageId: string
  timestamp: number
}

export type BusHandler = (m: BusMessage) => void

export interface LocalBus {
  publish(m: BusMessage): void
  /** `pattern` uses AMQP topic syntax (`*` one word, `#` any words); ignored for fanout. */
  subscribe(exchange: string, type: 'topic' | 'fanout', pattern: string, handler: BusHandler): () => void
}

/** AMQP topic matching: words split on `.`, `*` = exactly one word, `#` = zero or more. */
export function topicMatches(pattern: string, key: string): boolean {
  const p = pattern.split('.')
  const k = key.split('.')
  const match = (i: number, j: number): boolean => {
    if (i === p.length) return j === k.length
    if (p[i] === '#') return match(i + 1, j) || (j < k.length && match(i, j + 1))
    if (j === k.length) return false
    return (p[i] === '*' || p[i] === k[j]) && match(i + 1, j + 1)
  }
  return match(0, 0)
}

export function createLocalBus(onHandlerError: (e: unknown) => void = () => {}): LocalBus {
  const subs = new Set<{ exchange: string; type: 'topic' | 'fanout'; pattern: string; handler: BusHandler }>()
  return {
    publish: (m) => {
      for (const s of subs) {
        if (s.exchange !== m.exchange || (s.type === 'topic' && !topicMatches(s.pattern, m.routingKey))) continue
        // Delivered on a later tick, as a broker would: a slow or throwing consumer never
        // stalls the relay or another consumer.
        queueMicrotask(() => {
          try {
            s.handler(m)
          } catch (e) {
            onHandlerError(e)
          }
        })
      }
    },
    subscribe: (exchange, type, pattern, handler) => {
      const s = { exchange, type, pattern, handler }
      subs.add(s)
      return () => void subs.delete(s)
    },
  }
}
