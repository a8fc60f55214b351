import * as v from 'valibot'
import { selectBackend } from '../shared/backends/registry.ts'
import type { LogLine } from '../shared/backends/types.ts'
import { notFound } from '../shared/errors.ts'
import { defineFunction } from '../shared/function.ts'
import { Count, EnvironmentName, Flag } from './inputs.ts'

/** Merges several async iterables (one per replica) into one. */
async function* merge(sources: AsyncIterable<LogLine>[]): AsyncIterable<LogLine> {
  const its = sources.map((s) => s[Symbol.asyncIterator]())
  const pending = new Map(its.map((it, i) => [i, it.next().then((r) => ({ i, r }))]))
  while (pending.size) {
    const { i, r } = await Promise.race(pending.values())
    if (r.done) pending.delete(i)
    else {
      pending.set(i, its[i]!.next().then((x) => ({ i, r: x })))
      yield r.value
    }
  }
}

export default defineFunction({
  name: 'logs',
  method: 'GET',
  path: '/orchestrator/logs',
  permission: 'viewer',
  runtime: 'node',
  summary: 'Logs of an app (all replicas) or one container; follow=true streams them as server-sent events',
  input: v.object({
    app: v.pipe(v.string(), v.regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,200}$/, 'must be an app (node) or container name')),
    environment: EnvironmentName,
    tail: v.optional(Count(0, 10_000), 100),
    since: v.optional(Count(0, 4_102_444_800)),
    follow: v.optional(Flag, false),
  }),
  output: v.unknown(),
  handler: async (input, ctx) => {
    const backend = await selectBackend(ctx)
    const units = (await backend.status(input.environment)).filter((u) => u.app === input.app || u.name === input.app)
    if (!units.length) throw notFound(`No container of app "${input.app}" in environment "${input.environment}".`)
    const abort = new AbortController()
    const opts = { tail: input.tail, since: input.since, follow: input.follow, signal: abort.signal }
    const lines = merge(units.map((u) => backend.logs(u.name, opts)))
    if (!input.follow) {
      const out: LogLine[] = []
      for await (const l of lines) out.push(l)
      return { app: input.app, environment: input.environment, units: units.map((u) => u.name), lines: out }
    }
    const enc = new TextEncoder()
    const body = new ReadableStream<Uint8Array>({
      async start(controller) {
        controller.enqueue(enc.encode(`event: open\ndata: ${JSON.stringify({ units: units.map((u) => u.name) })}\n\n`))
        try {
          for await (const l of lines) controller.enqueue(enc.encode(`event: log\ndata: ${JSON.stringify(l)}\n\n`))
          controller.enqueue(enc.encode('event: end\ndata: {}\n\n'))
          controller.close()
        } catch {
          /* client went away */
        }
      },
      cancel() {
        abort.abort()
      },
    })
    return new Response(body, { headers: { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' } })
  },
})
