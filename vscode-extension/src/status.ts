// The status-bar state machine. Pure: events in, state out, and what the status bar
// and notifications should show. statusBar.ts draws it; no `vscode` import here.

/** Where the server and the gateway behind it stand. */
export type Phase =
  | "starting" // spawning `oss-sidecar lsp`
  | "ready" // server up, gateway answering
  | "loading" // the gateway answers but its model is still loading
  | "thinking" // a request is running on the gateway
  | "unreachable" // server up, gateway not answering
  | "notInstalled" // the executable was not found
  | "failed" // the server did not start or died
  | "stopped"; // deactivated / stopped on purpose

export interface State {
  phase: Phase;
  /** Ghost text on or off (the toggle); orthogonal to the phase. */
  inlineEnabled: boolean;
  /** The server's or the spawn error's own words, when it gave any. */
  message?: string;
  /** The model the gateway serves, once its /v1/stats has said. */
  model?: string;
}

export type Event =
  | { type: "starting" }
  | { type: "started" }
  | { type: "notInstalled"; command: string }
  | { type: "failed"; message: string }
  | { type: "stopped" }
  /** `ossSidecar/status` notification from the server. */
  | { type: "server"; state: string; message?: string }
  | { type: "inline"; enabled: boolean }
  /** The gateway's own /v1/stats, polled by the extension (health.ts): loading or ready. */
  | { type: "gateway"; status: string; model?: string };

export function initialState(inlineEnabled: boolean): State {
  return { phase: "starting", inlineEnabled };
}

const SERVER_STATES: Record<string, Phase> = { ready: "ready", thinking: "thinking", unreachable: "unreachable" };

export function reduce(state: State, event: Event): State {
  const next = reduceWithoutModel(state, event);
  const model = event.type === "gateway" ? (event.model ?? state.model) : state.model;
  return model === undefined || next.model === model ? next : { ...next, model };
}

function reduceWithoutModel(state: State, event: Event): State {
  switch (event.type) {
    case "starting":
      return { phase: "starting", inlineEnabled: state.inlineEnabled };
    case "started":
      // The server reports the gateway's state on its own; until it does, stay "starting"
      // unless it already said something.
      return state.phase === "starting" || state.phase === "failed" || state.phase === "stopped"
        ? { phase: "ready", inlineEnabled: state.inlineEnabled }
        : state;
    case "notInstalled":
      return { phase: "notInstalled", inlineEnabled: state.inlineEnabled, message: `"${event.command}" was not found` };
    case "failed":
      return { phase: "failed", inlineEnabled: state.inlineEnabled, message: event.message };
    case "stopped":
      return { phase: "stopped", inlineEnabled: state.inlineEnabled };
    case "server": {
      const phase = SERVER_STATES[event.state];
      if (phase === undefined) {
        return state; // unknown state names from a newer server are ignored
      }
      if (state.phase === "notInstalled" || state.phase === "stopped") {
        return state; // a late notification must not resurrect a stopped client
      }
      return { phase, inlineEnabled: state.inlineEnabled, message: event.message };
    }
    case "inline":
      return { ...state, inlineEnabled: event.enabled };
    case "gateway":
      // Only the gateway's loading → ready says anything the server's own notifications do not:
      // the server reports a loading gateway as unreachable (503) and nothing once it is ready.
      if (event.status === "loading" && (state.phase === "ready" || state.phase === "unreachable") && !keyRefused(state)) {
        return { phase: "loading", inlineEnabled: state.inlineEnabled };
      }
      // A gateway that answers /v1/stats is reachable again (started after VS Code, or restarted):
      // the server would only say so at the next request. A refused key stays refused.
      if (event.status === "ready" && (state.phase === "loading" || (state.phase === "unreachable" && !keyRefused(state)))) {
        return { phase: "ready", inlineEnabled: state.inlineEnabled };
      }
      return state;
  }
}

export type Severity = "normal" | "warning" | "error";

export interface View {
  text: string;
  tooltip: string;
  severity: Severity;
  /** The item's accessible label. */
  spoken: string;
}

const ICON: Record<Phase, string> = {
  starting: "$(loading~spin)",
  ready: "$(sparkle)",
  loading: "$(loading~spin)",
  thinking: "$(loading~spin)",
  unreachable: "$(debug-disconnect)",
  notInstalled: "$(warning)",
  failed: "$(error)",
  stopped: "$(circle-slash)",
};

const LABEL: Record<Phase, string> = {
  starting: "starting",
  ready: "ready",
  loading: "model loading",
  thinking: "thinking",
  unreachable: "gateway unreachable",
  notInstalled: "oss-sidecar not installed",
  failed: "language server failed",
  stopped: "stopped",
};

/**
 * The gateway answers but refuses the key (401/403): the server reports that as "unreachable"
 * with the gateway's own words ("gateway refused the request (401): ..."), and starting the
 * gateway, which the unreachable label and notice suggest, would not help.
 */
export function keyRefused(state: State): boolean {
  return state.phase === "unreachable" && /\((401|403)\)/.test(state.message ?? "");
}

/**
 * The Ask panel's note when no answer came: a refused key says so and how to set it (starting
 * the gateway would not help), anything else points at the status bar.
 */
export function noAnswerNote(state: State): string {
  if (keyRefused(state)) {
    return 'No answer: the gateway refused the API key. Set it with "oss-sidecar: Set gateway API key".';
  }
  return "No answer: is the gateway running? (see the status bar)";
}

export function view(state: State): View {
  const ghost = state.inlineEnabled ? "on" : "off";
  const label = keyRefused(state) ? "API key refused" : LABEL[state.phase];
  const lines = [`oss-sidecar: ${label}`];
  if (state.model) {
    lines.push(`Model: ${state.model}`);
  }
  if (state.message) {
    lines.push(state.message);
  }
  lines.push(`Ghost text: ${ghost} (click to turn it ${state.inlineEnabled ? "off" : "on"})`);
  const severity: Severity =
    state.phase === "unreachable" || state.phase === "notInstalled"
      ? "warning"
      : state.phase === "failed"
        ? "error"
        : "normal";
  const off = state.inlineEnabled ? "" : " (ghost text off)";
  const short = state.phase === "ready" ? "oss-sidecar" : `oss-sidecar: ${label}`;
  // the model's name in the tooltip and in what a screen reader says, not in the bar's width
  const spoken = `oss-sidecar: ${label}${state.model ? `, model ${state.model}` : ""}${off}`;
  return { text: `${ICON[state.phase]} ${short}${off}`, tooltip: lines.join("\n"), severity, spoken };
}

/** Which help message to show when entering a state (only on entry, never repeated). */
export type Notice = "notInstalled" | "unreachable" | "failed";

export function noticeFor(previous: State, next: State): Notice | undefined {
  if (previous.phase === next.phase) {
    return undefined;
  }
  if (next.phase === "notInstalled" || next.phase === "unreachable" || next.phase === "failed") {
    return next.phase;
  }
  return undefined;
}
