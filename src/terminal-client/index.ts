import { openTerminal } from './browser';

/**
 * The bundle's entry: `window.LabTerminal.open(container, {wsUrl, token, readOnly, onOpen,
 * onClose})`, answering `{fit(), connect({wsUrl, token, ...}), focus(), close()}`.
 */
(globalThis as unknown as Record<string, unknown>).LabTerminal = { open: openTerminal };
