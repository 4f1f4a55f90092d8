import { resultOf, type Send, type SendResult } from './scheduler';

/**
 * Asks the page's server (the XBlock) for a fresh heartbeat token for the learner's lab: a
 * token, `null` when there is none to be had (the lab is gone: stop), or a rejection when it
 * could not answer now (tried again after the scheduler's backoff).
 */
export type RenewToken = () => Promise<string | null>;

/** Renewals in a row, without an accepted heartbeat between them, before a 401 stops the client. */
export const MAX_TOKEN_RENEWALS = 3;

/**
 * A send that, when the API refuses the token (401: a key rotation dropped the key that signed
 * it), asks for a fresh one and sends again with it at once. Bounded, so a token the API keeps
 * refusing cannot turn every heartbeat into a renewal.
 */
export function renewingSend(
  post: (token: string) => Promise<number>,
  token: string,
  renew: RenewToken | undefined,
  maxRenewals = MAX_TOKEN_RENEWALS,
): Send {
  let current = token;
  let renewals = 0;
  const refused = (status: number): SendResult => ({
    ok: false,
    retry: renewals < maxRenewals,
    status,
  });
  return async () => {
    let status = await post(current);
    if (status === 401 && renew && renewals < maxRenewals) {
      renewals += 1;
      let fresh: string | null;
      try {
        fresh = await renew();
      } catch {
        return refused(status);
      }
      if (fresh === null) return resultOf(status);
      current = fresh;
      status = await post(current);
      if (status === 401) return refused(status);
    }
    const result = resultOf(status);
    if (result.ok) renewals = 0;
    return result;
  };
}
