/** `npm run api`: the HTTP API alone (compose's `api` service). SIGTERM drains it. */
import { runSingleRole } from '../single-role';

void runSingleRole('api');
