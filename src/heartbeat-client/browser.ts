import { HeartbeatScheduler, type Clock, type SendResult } from './scheduler';
import { renewingSend, type RenewToken } from './token';

/**
 * The page side of the heartbeat client: listens to the learner's input and the page's
 * visibility and sends `POST /v1/labs/{id}/heartbeat` with the lab's heartbeat token, straight
 * to the orchestrator (which answers CORS for that route). The browser's objects are described
 * structurally here, so this compiles without the DOM library and tests can pass fakes.
 */

type Listener = () => void;

interface Listenable {
  addEventListener(
    type: string,
    listener: Listener,
    options?: { passive?: boolean; capture?: boolean },
  ): void;
  removeEventListener(type: string, listener: Listener, options?: { capture?: boolean }): void;
}

export interface BrowserGlobals extends Listenable {
  document: Listenable & { readonly visibilityState: string };
  fetch(
    url: string,
    init: {
      method: string;
      headers: Record<string, string>;
      keepalive: boolean;
      mode: string;
      credentials: string;
    },
  ): Promise<{ status: number }>;
  setTimeout(run: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export interface HeartbeatConfig {
  /** `<public API URL>/v1/labs/{id}/heartbeat`. */
  url: string;
  /** The lab's heartbeatToken from the launch answer. */
  token: string;
  /** Where to get a fresh token when the API refuses this one (without it, a 401 stops). */
  renewToken?: RenewToken;
  intervalMs?: number;
  maxBackoffMs?: number;
  onResult?: (result: SendResult) => void;
}

export interface Heartbeat {
  /** Counts as learner activity (a page may call it for its own buttons). */
  activity(): void;
  stop(): void;
}

const INPUT_EVENTS = ['keydown', 'pointerdown', 'pointermove', 'wheel', 'touchstart', 'scroll'];

export function startHeartbeat(
  config: HeartbeatConfig,
  globals: BrowserGlobals = globalThis as unknown as BrowserGlobals,
): Heartbeat {
  const post = async (token: string): Promise<number> => {
    const response = await globals.fetch(config.url, {
      method: 'POST',
      headers: { Authorization: `Bearer ${token}` },
      keepalive: true,
      mode: 'cors',
      credentials: 'omit',
    });
    return response.status;
  };
  const send = renewingSend(post, config.token, config.renewToken);
  const clock: Clock = {
    now: () => Date.now(),
    setTimeout: (run, ms) => globals.setTimeout(run, ms),
    clearTimeout: (handle) => globals.clearTimeout(handle),
  };
  const visible = () => globals.document.visibilityState === 'visible';
  const scheduler = new HeartbeatScheduler(send, clock, {
    intervalMs: config.intervalMs,
    maxBackoffMs: config.maxBackoffMs,
    visible: visible(),
    onResult: (result) => {
      if (scheduler.isStopped) detach();
      config.onResult?.(result);
    },
  });

  const onInput: Listener = () => scheduler.activity();
  const onVisibility: Listener = () => scheduler.visibility(visible());
  const onPageHide: Listener = () => scheduler.visibility(false);
  const options = { passive: true, capture: true };
  for (const type of INPUT_EVENTS) globals.addEventListener(type, onInput, options);
  globals.document.addEventListener('visibilitychange', onVisibility);
  globals.addEventListener('pagehide', onPageHide);
  function detach(): void {
    for (const type of INPUT_EVENTS) globals.removeEventListener(type, onInput, { capture: true });
    globals.document.removeEventListener('visibilitychange', onVisibility);
    globals.removeEventListener('pagehide', onPageHide);
  }

  // Opening the page is activity: the learner is here (and a suspended lab resumes).
  scheduler.activity();
  return {
    activity: () => scheduler.activity(),
    stop() {
      scheduler.stop();
      detach();
    },
  };
}
