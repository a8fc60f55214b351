/**
 * Index members are `{serviceId}:{appId}` (full form) or `{appId}` (short form, written by
 * clients that put the service only in the body). appIds may contain ':'; service ids may not.
 */
export function splitMember(member: string): { serviceId: string | null; appId: string } {
  const colon = member.indexOf(':')
  return colon > 0 ? { serviceId: member.slice(0, colon), appId: member.slice(colon + 1) } : { serviceId: null, appId: member }
}
