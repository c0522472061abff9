// Model output -> HTML for the Ask AI webview. Model output is untrusted: raw HTML is
// escaped, only http(s)/mailto links survive, images are not loaded (a remote image
// would send data off the machine), and code blocks get Insert / Replace / Copy
// buttons that refer to the block by index (the extension keeps the raw code).
// Pure: no `vscode` import, unit-tested.
import MarkdownIt from "markdown-it";

export interface CodeBlock {
  lang: string;
  code: string;
}

export interface Rendered {
  html: string;
  blocks: CodeBlock[];
}

interface Env {
  blocks: CodeBlock[];
}

const SAFE_LINK = /^(https?:|mailto:)/i;

function createRenderer(): MarkdownIt {
  const md = new MarkdownIt({ html: false, linkify: false, typographer: false, breaks: false });
  md.disable(["image"]);
  // Stricter than markdown-it's default (which still allows some data: URLs).
  md.validateLink = (url: string): boolean => SAFE_LINK.test(url.trim());
  const escape = md.utils.escapeHtml;

  const codeBlock = (lang: string, code: string, env: Env): string => {
    const index = env.blocks.length;
    env.blocks.push({ lang, code });
    const langLabel = lang ? `<span class="lang">${escape(lang)}</span>` : "";
    const langClass = lang ? ` class="language-${escape(lang.replace(/[^\w+#-]/g, ""))}"` : "";
    return (
      `<div class="code-block" data-index="${index}">` +
      `<div class="code-actions">${langLabel}` +
      `<button type="button" data-action="insert" data-index="${index}" title="Insert at the cursor">Insert</button>` +
      `<button type="button" data-action="replace" data-index="${index}" title="Replace the selection">Replace selection</button>` +
      `<button type="button" data-action="copy" data-index="${index}" title="Copy to the clipboard">Copy</button>` +
      `</div><pre><code${langClass}>${escape(code)}</code></pre></div>\n`
    );
  };

  md.renderer.rules.fence = (tokens, idx, _options, env: Env) => {
    const token = tokens[idx];
    const lang = (token.info || "").trim().split(/\s+/)[0] ?? "";
    return codeBlock(lang, token.content, env);
  };
  md.renderer.rules.code_block = (tokens, idx, _options, env: Env) => codeBlock("", tokens[idx].content, env);

  // Links open outside the webview; never let them navigate it.
  const defaultLinkOpen =
    md.renderer.rules.link_open ?? ((tokens, idx, options, _env, self) => self.renderToken(tokens, idx, options));
  md.renderer.rules.link_open = (tokens, idx, options, env, self) => {
    tokens[idx].attrSet("rel", "noopener noreferrer");
    return defaultLinkOpen(tokens, idx, options, env, self);
  };
  return md;
}

const renderer = createRenderer();

export function renderMarkdown(source: string): Rendered {
  const env: Env = { blocks: [] };
  const html = renderer.render(source, env);
  return { html, blocks: env.blocks };
}

export function escapeHtml(text: string): string {
  return renderer.utils.escapeHtml(text);
}
