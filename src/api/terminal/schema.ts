import { z } from 'zod';
import { dateTime } from '../labs/schema';

/** Request and response schemas of the terminal routes (docs/api.md "Terminal"). */

export const terminalTokenBody = z
  .strictObject({
    readOnly: z.boolean().optional().meta({
      description: 'the session drops what is typed (resizes still apply); default false',
    }),
  })
  .optional();

export const terminalTokenSchema = z
  .object({
    token: z.string().meta({
      description:
        'offered with labs.terminal.v1 as a Sec-WebSocket-Protocol of the terminal WebSocket; opens it on this lab only',
    }),
    expiresAt: dateTime.meta({ description: 'the WebSocket must be opened before this' }),
    url: z.string().meta({
      description:
        "the WebSocket's path, /v1/labs/{id}/terminal: relative, to resolve against the API's public URL (ws: or wss:)",
    }),
  })
  .meta({ id: 'TerminalToken' });
