/**
 * Where a webhook may point. Deliveries carry learners' ids, so they go over https; plain http
 * only to a loopback address or a host the operator names as internal (a service in the same
 * cluster). Checked when the configuration loads.
 */
const LOOPBACK = /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/i;

/** What is wrong with `url` as a webhook endpoint, or null. */
export function webhookUrlProblem(url: string, internalHosts: readonly string[]): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a URL`;
  }
  if (parsed.username || parsed.password)
    return 'must not carry credentials (the signature authenticates the sender)';
  const host = parsed.hostname.toLowerCase();
  const internal = LOOPBACK.test(host) || internalHosts.some((h) => h.toLowerCase() === host);
  if (parsed.protocol === 'https:') return null;
  if (parsed.protocol === 'http:' && internal) return null;
  if (parsed.protocol === 'http:')
    return `must be https (plain http only to a loopback address or a host listed in webhookDelivery.internalHosts; ${host} is neither)`;
  return `must be an https URL, not ${parsed.protocol.replace(/:$/, '')}`;
}
