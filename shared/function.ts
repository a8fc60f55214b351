import type * as v from 'valibot'
import type { Context } from './context.ts'

export type Permission = 'viewer' | 'operator' | 'admin'
export type HttpMethod = 'GET' | 'POST' | 'PUT' | 'DELETE'

export interface InvocationMeta {
  requestId: string
  principal?: string
}

/** A result with a status other than the default, e.g. 503 from an unhealthy health check. */
export class Respond<O> {
  constructor(
    readonly status: number,
    readonly body: O,
    readonly headers?: Record<string, string>,
  ) {}
}

/**
 * A result already serialized to JSON, for hot read paths that cache the text: the HTTP layer
 * sends it as is instead of stringifying the same object on every request.
 */
export class SerializedJson<O> {
  declare readonly _type: O
  /** Encoded once, so a cached result costs no per-request UTF-8 encoding either. */
  readonly bytes: Uint8Array
  constructor(readonly text: string) {
    this.bytes = new TextEncoder().encode(text)
  }
  static of<O>(value: O): SerializedJson<O> {
    return new SerializedJson<O>(JSON.stringify(value))
  }
}

type AnySchema = v.GenericSchema<unknown, unknown>

export interface FunctionDefinition<I extends AnySchema = AnySchema, O extends AnySchema = AnySchema> {
  name: string
  method: HttpMethod
  path: string
  /** Extra routes for the same handler (the reference's short forms such as GET /orchestrator/health). */
  aliases?: { method: HttpMethod; path: string }[]
  permission: Permission
  /** 'edge' functions touch Redis only and bundle for workerd; 'node' ones need Docker, AMQP or files. */
  runtime: 'edge' | 'node'
  /**
   * A GET whose 200 answer may be reused for ORCHESTRATOR_HEALTH_CACHE_MS by an HTTP
   * micro-cache in front of the app (the Node server has one); only for reads that already
   * tolerate that staleness.
   */
  cacheable?: boolean
  summary: string
  input: I
  output: O
  handler: (
    input: v.InferOutput<I>,
    ctx: Context,
    meta: InvocationMeta,
  ) => Promise<v.InferOutput<O> | Respond<v.InferOutput<O>> | SerializedJson<v.InferOutput<O>>>
}

export type AnyFunction = FunctionDefinition<AnySchema, AnySchema>

/** Identity with inference: keeps each function file a plain object literal. */
export function defineFunction<I extends AnySchema, O extends AnySchema>(def: FunctionDefinition<I, O>): AnyFunction {
  return def as unknown as AnyFunction
}

export const respond = <O>(status: number, body: O, headers?: Record<string, string>) => new Respond(status, body, headers)
