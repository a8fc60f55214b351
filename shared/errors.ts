/**
 * The one error type handlers throw. shared/http turns it into application/problem+json;
 * nothing below shared/http knows about HTTP frameworks.
 */
export interface FieldError {
  field: string
  message: string
}

export interface OrchestratorErrorInit {
  status: number
  code: string
  title: string
  detail: string
  errors?: FieldError[]
  retryAfterSeconds?: number
  extra?: Record<string, unknown>
}

export class OrchestratorError extends Error {
  readonly status: number
  readonly code: string
  readonly title: string
  readonly detail: string
  readonly errors?: FieldError[]
  readonly retryAfterSeconds?: number
  readonly extra?: Record<string, unknown>

  constructor(init: OrchestratorErrorInit) {
    super(init.detail)
    this.name = 'OrchestratorError'
    this.status = init.status
    this.code = init.code
    this.title = init.title
    this.detail = init.detail
    this.errors = init.errors
    this.retryAfterSeconds = init.retryAfterSeconds
    this.extra = init.extra
  }
}

export const badRequest = (detail: string, errors?: FieldError[]) =>
  new OrchestratorError({ status: 400, code: 'validation-failed', title: 'Request is not valid', detail, errors })

export const notFound = (detail: string) =>
  new OrchestratorError({ status: 404, code: 'not-found', title: 'Not found', detail })

export const conflict = (detail: string, extra?: Record<string, unknown>) =>
  new OrchestratorError({ status: 409, code: 'conflict', title: 'Conflict', detail, extra })

export const dependencyUnavailable = (dependency: string, detail: string, retryAfterSeconds = 5) =>
  new OrchestratorError({
    status: 503,
    code: `${dependency}-unavailable`,
    title: `${dependency} is unavailable`,
    detail,
    retryAfterSeconds,
  })

/** The message of anything thrown (an Error's message, or the value as text). */
export const errorMessage = (e: unknown) => (e instanceof Error ? e.message : String(e))
