import * as v from 'valibot'

/** Input pieces several functions share, so a field is validated the same way everywhere. */
export const ServiceName = v.pipe(
  v.string('must be a string'),
  v.regex(/^[A-Za-z0-9_.-]{1,100}$/, 'must be 1-100 letters, digits, _ . or -'),
)
