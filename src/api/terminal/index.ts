import { ApiError } from '../errors';
import { labIdParams } from '../labs/schema';
import { defineRoute, type AnyRoute } from '../route';
import type { ApiServices } from '../services';
import { TERMINAL_PATH, TERMINAL_SUBPROTOCOL } from './protocol';
import { terminalTokenBody, terminalTokenSchema } from './schema';
import { terminalLab } from './target';

export { TerminalGateway, type TerminalOptions } from './gateway';

/**
 * The browser terminal: the XBlock mints a token with its service token, the learner's page
 * opens the WebSocket with it (TerminalGateway, on the HTTP server's upgrades). The WebSocket's
 * route is mounted too, so that /openapi.json describes it and a plain GET learns it is one.
 */
export function terminalRoutes(api: ApiServices): AnyRoute[] {
  return [
    defineRoute({
      operationId: 'issueTerminalToken',
      method: 'post',
      path: '/v1/labs/{id}/terminal-token',
      summary:
        'A 2-minute token that opens the terminal WebSocket on this lab (service token only)',
      tag: 'labs',
      access: 'service',
      params: labIdParams,
      body: terminalTokenBody,
      responses: [{ status: 200, description: 'the token', schema: terminalTokenSchema }],
      errors: [404, 409],
      async handle(koa, { params, body }) {
        koa.set('Cache-Control', 'no-store');
        await terminalLab(api, params.id);
        const { token, expiresAt } = api.terminalTokens.issue(params.id, {
          readOnly: body?.readOnly === true,
        });
        koa.body = {
          token,
          expiresAt: expiresAt.toISOString(),
          url: TERMINAL_PATH.replace('{id}', params.id),
        };
      },
    }),
    defineRoute({
      operationId: 'openTerminal',
      method: 'get',
      path: TERMINAL_PATH,
      summary: `The lab's shell over a WebSocket: offer the subprotocols ${TERMINAL_SUBPROTOCOL} and a terminal token (docs/api.md, Terminal)`,
      tag: 'labs',
      // The token travels in Sec-WebSocket-Protocol, not as a bearer token (TerminalGateway).
      access: 'public',
      params: labIdParams,
      responses: [
        {
          status: 101,
          description: `switching to a WebSocket of subprotocol ${TERMINAL_SUBPROTOCOL}`,
        },
      ],
      errors: [401, 403, 404, 409, 426],
      handle(koa) {
        // Reached only without an Upgrade header: upgrades go to the gateway, not to Koa.
        koa.set('Upgrade', 'websocket');
        throw new ApiError(
          426,
          'upgrade_required',
          'this route is a WebSocket: send Upgrade: websocket',
        );
      },
    }),
  ];
}
