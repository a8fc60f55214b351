import * as v from 'valibot'

/** Input pieces of the restart endpoints. */
export const AppName = v.pipe(v.string('must be a string'), v.regex(/^[A-Za-z0-9_.:-]{1,200}$/, 'must be a Dapr app id or node name (letters, digits, _ . : -)'))

export const Priority = v.optional(v.picklist(['graceful', 'immediate', 'force'], 'must be graceful, immediate or force'), 'graceful')

/** A deploy environment without a default: restarts find the app's environment themselves. */
export const OptionalEnvironment = v.optional(
  v.pipe(v.string('must be a string'), v.regex(/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/, 'must be a lowercase DNS label of at most 32 characters')),
)

export const GraceSeconds = v.optional(v.pipe(v.number('must be a number of seconds'), v.integer('must be whole seconds'), v.minValue(0, 'must be ≥ 0'), v.maxValue(600, 'must be ≤ 600')))
