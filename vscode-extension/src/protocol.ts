// The language server's own protocol beyond LSP, as lsp/protocol.py declares it: every
// ossSidecar/* method, command and capability, and the shapes of their params and results.
// PROTOCOL below is compared with `python -m lsp.protocol` by the contract test
// (test/integration/lspContract.ts); the `satisfies Fields<...>` checks keep it equal to the
// interfaces at compile time.

export const ASK = "ossSidecar/ask"; // request, client -> server
export const STATUS = "ossSidecar/status"; // notification, server -> client (opt-in)
export const STATS = "ossSidecar/stats"; // request, diagnostics
export const DEBUG_CONTEXT = "ossSidecar/debugContext"; // request, diagnostics

export const SHOW_MARKDOWN = "ossSidecar.showMarkdown"; // command: an answer to show
export const RUN_ACTION = "ossSidecar.runAction"; // command: a code action without resolve

/** `capabilities.experimental.ossSidecar.statusNotification: true` opts in to STATUS. */
export const EXPERIMENTAL_KEY = "ossSidecar";
export const STATUS_CAPABILITY = "statusNotification";

export const STATUS_STATES = ["ready", "thinking", "unreachable"] as const;
export type StatusState = (typeof STATUS_STATES)[number];

export interface Position {
  line: number;
  character: number;
}

export interface Range {
  start: Position;
  end: Position;
}

export interface TextDocumentIdentifier {
  uri: string;
}

export interface AskParams {
  textDocument?: TextDocumentIdentifier;
  range?: Range;
  question?: string;
  partialResultToken?: number | string;
}

export interface AskResult {
  markdown: string;
}

/** The value of each `$/progress` on an ask's partialResultToken. */
export interface AskPartialResult {
  markdown: string;
}

export interface StatusParams {
  state: StatusState;
  message?: string;
}

export interface StatsParams {
  replyTokens?: boolean;
}

export interface Quantiles {
  count: number;
  p50: number | null;
  p90: number | null;
  max: number | null;
}

export interface StatsResult {
  requests: number;
  cache_hits: number;
  gateway_calls: number;
  superseded: number;
  cancelled_by_client: number;
  errors: number;
  items_returned: number;
  tokens_generated: number;
  reply_tokens?: Record<string, number>;
  overhead_ms: Quantiles;
  prepare_ms: Quantiles;
  gateway_ms: Quantiles;
}

export interface DebugContextParams {
  textDocument: TextDocumentIdentifier;
  position: Position;
}

export interface Snippet {
  path: string;
  content: string;
}

export interface DebugContextResult {
  prefix: string;
  suffix: string;
  files: Snippet[];
  midLine: boolean;
  estimatedTokens: number;
}

/** The one argument of SHOW_MARKDOWN. */
export interface ShowMarkdownArgs {
  title?: string;
  markdown?: string;
}

/** A code action's `data`, and the one argument of RUN_ACTION. */
export interface ActionData {
  id: string;
  uri: string;
  range: Range;
  diagnostics: string[];
  job?: string;
}

/** The client capabilities the extension adds: it shows ossSidecar/status in the status bar. */
export function experimentalCapabilities(): Record<string, unknown> {
  return { [EXPERIMENTAL_KEY]: { [STATUS_CAPABILITY]: true } };
}

/** Field name -> required, for every field of T (an exact match is checked by `satisfies`). */
type Fields<T> = { [P in keyof T]-?: object extends Pick<T, P> ? false : true };

/** Everything above as plain data, in the shape of lsp/protocol.py's describe(). */
export const PROTOCOL = {
  methods: { ask: ASK, status: STATUS, stats: STATS, debugContext: DEBUG_CONTEXT },
  commands: { showMarkdown: SHOW_MARKDOWN, runAction: RUN_ACTION },
  experimental: { key: EXPERIMENTAL_KEY, status: STATUS_CAPABILITY },
  statusStates: [...STATUS_STATES],
  types: {
    AskParams: { textDocument: false, range: false, question: false, partialResultToken: false } satisfies Fields<AskParams>,
    AskResult: { markdown: true } satisfies Fields<AskResult>,
    AskPartialResult: { markdown: true } satisfies Fields<AskPartialResult>,
    StatusParams: { state: true, message: false } satisfies Fields<StatusParams>,
    StatsParams: { replyTokens: false } satisfies Fields<StatsParams>,
    StatsResult: {
      requests: true,
      cache_hits: true,
      gateway_calls: true,
      superseded: true,
      cancelled_by_client: true,
      errors: true,
      items_returned: true,
      tokens_generated: true,
      reply_tokens: false,
      overhead_ms: true,
      prepare_ms: true,
      gateway_ms: true,
    } satisfies Fields<StatsResult>,
    DebugContextParams: { textDocument: true, position: true } satisfies Fields<DebugContextParams>,
    DebugContextResult: {
      prefix: true,
      suffix: true,
      files: true,
      midLine: true,
      estimatedTokens: true,
    } satisfies Fields<DebugContextResult>,
    ShowMarkdownArgs: { title: false, markdown: false } satisfies Fields<ShowMarkdownArgs>,
    ActionData: { id: true, uri: true, range: true, diagnostics: true, job: false } satisfies Fields<ActionData>,
  },
};
