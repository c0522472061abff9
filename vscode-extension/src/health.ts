// Polls the gateway's /v1/stats so the status bar can say "model loading" while the gateway
// loads its model, then ready with the model's name: the language server only reports what
// its requests meet, and a loading gateway looks to it like one that is down (503).
import * as vscode from "vscode";

import { Event } from "./status";

const WHILE_LOADING_MS = 2000;
const WHILE_READY_MS = 30000;

export function watchGateway(
  gatewayUrl: () => string,
  apiKey: () => Thenable<string | undefined>,
  dispatch: (event: Event) => void,
): vscode.Disposable {
  let stopped = false;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const poll = async (): Promise<void> => {
    let next = WHILE_LOADING_MS;
    try {
      const key = await apiKey();
      const response = await fetch(`${gatewayUrl()}/v1/stats`, {
        headers: key ? { Authorization: `Bearer ${key}` } : {},
        signal: AbortSignal.timeout(5000),
      });
      if (response.ok) {
        const body = (await response.json()) as { status?: string; model?: string | null };
        if (typeof body.status === "string") {
          dispatch({ type: "gateway", status: body.status, model: body.model ?? undefined });
          next = body.status === "ready" ? WHILE_READY_MS : WHILE_LOADING_MS;
        }
      }
    } catch {
      // down or refused: the language server's own reports say so
    }
    if (!stopped) {
      timer = setTimeout(() => void poll(), next);
    }
  };
  void poll();
  return new vscode.Disposable(() => {
    stopped = true;
    if (timer !== undefined) {
      clearTimeout(timer);
    }
  });
}
