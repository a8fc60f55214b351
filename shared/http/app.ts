import { Hono, type Context as HonoContext } from 'hono'
import type { HonoBase } from 'hono/hono-base'
import * as v from 'valibot'
import type { Context } from '../context.ts'
import { badRequest, errorMessage } from '../errors.ts'
import { Respond, SerializedJson, type AnyFunction } from '../function.ts'
import { OPENAPI_PATH, openApiDocument } from './openapi.ts'
import { requestIdFor } from './request-id.ts'
import { fieldErrors, problemType, toProblem, type Problem } from './problem.ts'

export type Env = { Variables: { requestId: string } }

const PROBLEM_JSON = 'application/problem+json'

function problemResponse(c: HonoContext<Env>, problem: Problem, headers: Record<string, string> = {}) {
  const requestId = requestIdFor(c)
  const body = { ...problem, instance: c.req.path, requestId }
  return new Response(JSON.stringify(body), {
    status: problem.status,
    headers: { 'content-type': PROBLEM_JSON, 'x-request-id': requestId, ...headers },
  })
}

/** Query and path parameters; the whole input of a GET. */
function queryAndParams(c: HonoContext<Env>): Record<string, unknown> {
  const query = c.req.url.includes('?') ? c.req.query() : undefined
  const params = c.req.param() as Record<string, string>
  if (!query) return params
  return Object.keys(params).length === 0 ? query : { ...query, ...params }
}

async function readBody(c: HonoContext<Env>): Promise<Record<string, unknown>> {
  let body: Record<string, unknown> = {}
  const text = await c.req.text()
  if (text.trim() !== '') {
    let parsed: unknown
    try {
      parsed = JSON.parse(text)
    } catch (e) {
      throw badRequest(`The request body is not valid JSON: ${errorMessage(e)}`, [
        { field: '(body)', message: 'must be a JSON object' },
      ])
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
      throw badRequest('The request body must be a JSON object.', [{ field: '(body)', message: 'must be a JSON object' }])
    }
    body = parsed as Record<string, unknown>
  }
  return { ...c.req.query(), ...body, ...c.req.param() }
}

/** GET/HEAD carry no body: read them synchronously, with no extra await on the hot read path. */
const readInput = (c: HonoContext<Env>) =>
  c.req.method === 'GET' || c.req.method === 'HEAD' ? queryAndParams(c) : readBody(c)

/**
 * Turns the function registry into one Hono app: request ids, validation of
 * params+query+body, and a single place that renders errors as problem+json.
 */
export function buildApp(functions: readonly AnyFunction[], ctx: Context): Hono<Env> {
  const app = new Hono<Env>()
  // Built on first request: the schema conversion is not worth paying at start.
  let document: string | undefined
  app.get(OPENAPI_PATH, (c) => c.body((document ??= JSON.stringify(openApiDocument(functions, ctx.version))), 200, { 'content-type': 'application/json' }))
  return mountFunctions(app, functions, ctx)
}

/**
 * The routes, the 404 and the error handler of `functions` on `app`. buildApp uses Hono's
 * default router (fastest across the many routes of the combined server) and serves the
 * OpenAPI document; a one-function edge bundle brings the smallest router and no document
 * (its size is start time in workerd).
 */
export function mountFunctions<A extends HonoBase<Env>>(app: A, functions: readonly AnyFunction[], ctx: Context): A {
  for (const fn of functions) {
    const routes = [{ method: fn.method, path: fn.path }, ...(fn.aliases ?? [])]
    const handle = async (c: HonoContext<Env>) => {
      const input = readInput(c)
      const raw = input instanceof Promise ? await input : input
      const parsed = v.safeParse(fn.input, raw)
      if (!parsed.success) {
        const errors = fieldErrors(parsed.issues)
        throw badRequest(errors.map((e) => `${e.field}: ${e.message}`).join('; '), errors)
      }
      const requestId = requestIdFor(c)
      const result = await fn.handler(parsed.output, ctx, { requestId })
      // Streaming endpoints (logs with follow=true) hand back a ready Response.
      if (result instanceof Response) return result
      if (result instanceof Respond) return c.json(result.body as object, result.status as 200, { ...result.headers, 'x-request-id': requestId })
      if (result instanceof SerializedJson) {
        return c.body(result.bytes as Uint8Array<ArrayBuffer>, 200, { 'content-type': 'application/json', 'x-request-id': requestId })
      }
      return c.json(result as object, 200, { 'x-request-id': requestId })
    }
    for (const r of routes) app.on(r.method, r.path, handle)
  }

  app.notFound((c) =>
    problemResponse(c, {
      type: problemType('not-found'),
      title: 'No such endpoint',
      status: 404,
      detail: `${c.req.method} ${c.req.path} is not an orchestrator endpoint. GET /orchestrator/status lists the version; the README lists every endpoint.`,
    }),
  )

  app.onError((err, c) => {
    const { problem, headers, unexpected } = toProblem(err)
    if (unexpected) {
      ctx.log.error('unhandled error', {
        requestId: requestIdFor(c),
        method: c.req.method,
        path: c.req.path,
        error: errorMessage(err),
        stack: err instanceof Error ? err.stack : undefined,
      })
    }
    return problemResponse(c, problem, headers)
  })
  return app
}
