import { toJsonSchema, type JsonSchema } from '@valibot/to-json-schema'
import type { AnyFunction } from '../function.ts'

export const OPENAPI_PATH = '/orchestrator/openapi.json'

type Schema = JsonSchema & { properties?: Record<string, JsonSchema>; required?: string[] }

/** JSON Schema of a valibot schema; parts JSON Schema cannot say (transforms, checks in code) are left open. */
const jsonSchemaOf = (schema: AnyFunction['input'], typeMode: 'input' | 'output'): Schema => {
  const { $schema: _dialect, ...rest } = toJsonSchema(schema, { target: 'draft-2020-12', typeMode, errorMode: 'ignore' }) as Schema & { $schema?: string }
  return rest
}

/** `:name` segments of a route path. */
const PATH_PARAM = /:([A-Za-z][A-Za-z0-9_]*)/g
const pathParams = (path: string) => [...path.matchAll(PATH_PARAM)].map((m) => m[1]!)

const PROBLEM: JsonSchema = {
  type: 'object',
  description: 'RFC 9457 problem details; `errors` names each bad field.',
  required: ['type', 'title', 'status', 'detail'],
  properties: {
    type: { type: 'string' },
    title: { type: 'string' },
    status: { type: 'integer' },
    detail: { type: 'string' },
    instance: { type: 'string' },
    requestId: { type: 'string' },
    errors: { type: 'array', items: { type: 'object', required: ['field', 'message'], properties: { field: { type: 'string' }, message: { type: 'string' } } } },
  },
}

function operation(fn: AnyFunction, method: string, path: string, operationId: string) {
  const input = jsonSchemaOf(fn.input, 'input')
  const inPath = pathParams(path)
  const props = input.properties ?? {}
  const required = new Set(input.required ?? [])
  const param = (name: string, where: 'path' | 'query') => ({ name, in: where, required: where === 'path' || required.has(name), schema: props[name] ?? { type: 'string' } })
  const rest = Object.keys(props).filter((k) => !inPath.includes(k))
  const body: Schema = { ...input, properties: Object.fromEntries(rest.map((k) => [k, props[k]!])), required: (input.required ?? []).filter((k) => rest.includes(k)) }
  if (body.required?.length === 0) delete body.required
  return {
    operationId,
    summary: fn.summary,
    tags: [fn.runtime === 'edge' ? 'edge' : 'node'],
    'x-permission': fn.permission,
    'x-runtime': fn.runtime,
    parameters: [...inPath.map((n) => param(n, 'path')), ...(method === 'get' ? rest.map((n) => param(n, 'query')) : [])],
    ...(method !== 'get' && rest.length > 0 ? { requestBody: { required: body.required !== undefined, content: { 'application/json': { schema: body } } } } : {}),
    responses: {
      '200': { description: 'OK', content: { 'application/json': { schema: jsonSchemaOf(fn.output, 'output') } } },
      '4XX': { description: 'The request was wrong; the problem says how', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
      '5XX': { description: 'A dependency is down or the orchestrator failed', content: { 'application/problem+json': { schema: { $ref: '#/components/schemas/Problem' } } } },
    },
  }
}

/** The OpenAPI 3.1 document of the functions an app serves, from their own valibot schemas. */
export function openApiDocument(functions: readonly AnyFunction[], version: string) {
  const paths: Record<string, Record<string, unknown>> = {}
  const add = (fn: AnyFunction, method: string, path: string, operationId: string) => {
    const key = path.replace(PATH_PARAM, '{$1}')
    const m = method.toLowerCase()
    ;(paths[key] ??= {})[m] = operation(fn, m, path, operationId)
  }
  for (const fn of functions) {
    add(fn, fn.method, fn.path, fn.name)
    fn.aliases?.forEach((a, i) => add(fn, a.method, a.path, `${fn.name}-alias-${i + 1}`))
  }
  paths[OPENAPI_PATH] = { get: { operationId: 'openapi', summary: 'This document', responses: { '200': { description: 'OpenAPI 3.1 document' } } } }
  return {
    openapi: '3.1.0',
    info: { title: 'Bannou orchestrator', version },
    paths,
    components: { schemas: { Problem: PROBLEM } },
  }
}
