import * as v from 'valibot'
import { OrchestratorError, type FieldError } from '../errors.ts'
import { StoreUnavailableError } from '../store/types.ts'
import { TimeoutError } from '../timeout.ts'

/** RFC 9457 problem details, plus `errors` naming each bad field. */
export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  instance?: string
  requestId?: string
  errors?: FieldError[]
  [extra: string]: unknown
}

export const problemType = (code: string) => `urn:bannou:problem:${code}`

export function fieldErrors(issues: readonly v.BaseIssue<unknown>[]): FieldError[] {
  return issues.map((i) => ({
    field: i.path?.map((p) => String(p.key)).join('.') || '(body)',
    message: i.message,
  }))
}

/** Maps anything thrown by a handler to a problem and the headers that go with it. */
export function toProblem(error: unknown): { problem: Problem; headers: Record<string, string>; unexpected: boolean } {
  if (error instanceof OrchestratorError) {
    const headers: Record<string, string> = {}
    if (error.retryAfterSeconds !== undefined) headers['retry-after'] = String(error.retryAfterSeconds)
    return {
      problem: {
        ...error.extra,
        type: problemType(error.code),
        title: error.title,
        status: error.status,
        detail: error.detail,
        ...(error.errors ? { errors: error.errors } : {}),
      },
      headers,
      unexpected: false,
    }
  }
  if (error instanceof v.ValiError) {
    const errors = fieldErrors(error.issues)
    return {
      problem: {
        type: problemType('validation-failed'),
        title: 'Request is not valid',
        status: 400,
        detail: errors.map((e) => `${e.field}: ${e.message}`).join('; '),
        errors,
      },
      headers: {},
      unexpected: false,
    }
  }
  if (error instanceof StoreUnavailableError || error instanceof TimeoutError) {
    const what = error instanceof StoreUnavailableError ? 'redis' : 'dependency'
    return {
      problem: {
        type: problemType(`${what}-unavailable`),
        title: error instanceof StoreUnavailableError ? 'Redis is unavailable' : 'A dependency did not answer in time',
        status: 503,
        detail: `${error.message}. The orchestrator keeps reconnecting with backoff; retry shortly.`,
      },
      headers: { 'retry-after': '5' },
      unexpected: false,
    }
  }
  return {
    problem: {
      type: problemType('internal'),
      title: 'Internal error',
      status: 500,
      detail: 'The orchestrator failed unexpectedly. The error is logged with this requestId.',
    },
    headers: {},
    unexpected: true,
  }
}
