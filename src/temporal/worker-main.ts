/** `npm run worker`: the lab worker alone (compose's `worker` service). SIGTERM drains it. */
import { runSingleRole } from '../single-role';

void runSingleRole('worker');
