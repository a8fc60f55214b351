import * as v from 'valibot'

/** Input pieces several functions share, so a field is validated the same way everywhere. */
export const ServiceName = v.pipe(
  v.string('must be a string'),
  v.regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be 1-100 letters, digits, _ . or -'),
)

/** true/false from a JSON body or a query string. */
export const Flag = v.union([v.boolean(), v.pipe(v.picklist(['true', 'false'], 'must be true or false'), v.transform((s) => s === 'true'))], 'must be true or false')

/** A deploy environment: a DNS label, since it becomes part of container names. */
export const EnvironmentName = v.optional(
  v.pipe(v.string('must be a string'), v.regex(/^[a-z0-9]([-a-z0-9]{0,30}[a-z0-9])?$/, 'must be a lowercase DNS label of at most 32 characters')),
  'default',
)

/** Whole number from a JSON body or a query string. */
export const Count = (min: number, max: number) =>
  v.pipe(
    v.union([v.number(), v.pipe(v.string(), v.regex(/^\d+$/, 'must be a whole number'), v.transform(Number))], 'must be a whole number'),
    v.integer('must be a whole number'),
    v.minValue(min, `must be ≥ ${min}`),
    v.maxValue(max, `must be ≤ ${max}`),
  )
