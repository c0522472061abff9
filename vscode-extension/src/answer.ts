// Ask AI presets and how a streamed answer is put together. Pure, unit-tested.

export interface Preset {
  label: string;
  question: string;
}

/** The same five tasks the server offers as code actions (docs/PROTOCOL.md). */
export const PRESETS: readonly Preset[] = [
  { label: "Explain", question: "Explain what this code does." },
  { label: "Fix", question: "Find the bugs in this code and show the fixed code." },
  { label: "Refactor", question: "Refactor this code to be clearer without changing its behaviour. Show the new code." },
  { label: "Add docstring", question: "Write a docstring (or doc comment) for this code. Show the documented code." },
  { label: "Write tests", question: "Write unit tests for this code." },
];

/** A preset label typed into the question box counts as that preset. */
export function questionFor(input: string): string {
  const trimmed = input.trim();
  const preset = PRESETS.find((p) => p.label.toLowerCase() === trimmed.toLowerCase());
  return preset ? preset.question : trimmed;
}

/**
 * The final `ossSidecar/ask` result next to the pieces already streamed through
 * `$/progress`. A server may answer with the whole text, with only what it had not
 * streamed yet, or with nothing; every case ends with the whole answer once.
 */
export function mergeAnswer(streamed: string, final: string): string {
  if (final === "") {
    return streamed;
  }
  if (streamed === "" || final.startsWith(streamed)) {
    return final;
  }
  return streamed + final;
}
