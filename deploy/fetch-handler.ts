import type { AnyFunction } from '../shared/function.ts'
import { ConfigError, loadConfig, type EnvRecord } from '../shared/config.ts'
import { createContext, type Context, type ContextOverrides } from '../shared/context.ts'
import type { HonoBase } from 'hono/hono-base'
import type { Env } from '../shared/http/app.ts'
import { problemType } from '../shared/http/problem.ts'
import type { Platform } from '../shared/platform.ts'

/** The standard handler shape Deno, workerd, Bun and our Node entries all call. */
export interface FetchHandler {
  fetch(request: Request): Promise<Response>
  ctx: Context
}

/**
 * One factory for every runtime: the env record (process.env on Node, Deno.env on Deno, the
 * `env` argument on workerd) goes through the same valibot schema, then the same Hono app.
 * Throws ConfigError listing every bad variable.
 */
export function createFetchHandler(
  functions: readonly AnyFunction[],
  env: EnvRecord,
  platform: Platform,
  appFor: (functions: readonly AnyFunction[], ctx: Context) => HonoBase<Env>,
  overrides: ContextOverrides = {},
): FetchHandler {
  const ctx = createContext(loadConfig(env), platform, overrides)
  const app = appFor(functions, ctx)
  return { ctx, fetch: async (request) => app.fetch(request) }
}

/** A configuration error as the 500 problem+json an edge function answers with (it has no stderr anyone reads). */
export function configErrorResponse(e: ConfigError): Response {
  const body = {
    type: problemType('configuration'),
    title: 'The function is misconfigured',
    status: 500,
    detail: e.message,
    errors: e.problems.map((p) => ({ field: p.variable, message: p.message })),
  }
  return new Response(JSON.stringify(body), { status: 500, headers: { 'content-type': 'application/problem+json' } })
}

/** Only string values of an edge `env` are configuration; bindings (KV, queues …) are objects. */
export function envStrings(env: unknown): EnvRecord {
  const out: EnvRecord = {}
  if (typeof env !== 'object' || env === null) return out
  for (const [k, value] of Object.entries(env)) if (typeof value === 'string') out[k] = value
  return out
}
