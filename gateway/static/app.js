// oss-sidecar chat page. Plain ES module, no build step; everything is served by the gateway.
// Model output is untrusted: it is rendered through marked (raw HTML escaped) and then DOMPurify.
// Every URL is relative to the page, so it also works under a path prefix (a proxy such as
// code-server's /proxy/PORT/ in VS Code).
import { Marked } from "./vendor/marked-18.2.1.esm.js";
import hljs from "./vendor/highlightjs-11.12.0-core.min.js";

const DOMPurify = window.DOMPurify;
const HLJS = "./vendor/highlightjs-11.12.0-lang-";
// Each conversation is stored under its own key, so two tabs never overwrite each other's chats.
const STORE = { conversation: "oss-sidecar.conversation.v1.", current: "oss-sidecar.current.v1", settings: "oss-sidecar.settings.v1", ui: "oss-sidecar.ui.v1" };
export const DEFAULTS = Object.freeze({
  temperature: 0.7, top_p: 0.9, max_tokens: 2048, repetition_penalty: 1.1,
  system: "You are a helpful assistant.",
  // Retrieval: "" is no knowledge base; top_k is the number of sources per question (the gateway's default).
  collection: "", top_k: 4,
});
const PARAM_FIELDS = [
  // [settings key, element id, parse, min, max]
  ["temperature", "p-temperature", parseFloat, 0, 2],
  ["top_p", "p-top-p", parseFloat, 0, 1],
  ["max_tokens", "p-max-tokens", (v) => parseInt(v, 10), 1, 1 << 20],
  ["repetition_penalty", "p-repetition-penalty", parseFloat, 0.01, 10],
  ["top_k", "p-top-k", (v) => parseInt(v, 10), 1, 100],
];
const STATS_INTERVAL_MS = 3000;

const $ = (id) => document.getElementById(id);
const el = {
  messages: $("messages"), input: $("input"), send: $("send"), stop: $("stop"), composer: $("composer"),
  clear: $("clear-history"), newChat: $("new-chat"), list: $("conversation-list"), title: $("chat-title"),
  exportMd: $("export-md"), exportJson: $("export-json"), banner: $("banner"), params: $("params"),
  toggleParams: $("toggle-params"), resetParams: $("reset-params"), system: $("p-system"), dot: $("status-dot"),
  knowledge: $("knowledge"), toggleConversations: $("toggle-conversations"), sidebar: $("sidebar"), scrim: $("scrim"),
  closeParams: $("close-params"), effectiveWindow: $("effective-window"), layout: document.querySelector(".layout"),
};

// ---------------------------------------------------------------- storage

function loadConversations() {
  const out = [];
  for (let i = 0; i < localStorage.length; i += 1) {
    const key = localStorage.key(i);
    if (!key || !key.startsWith(STORE.conversation)) continue;
    const c = load(key, null);
    if (c && c.id && Array.isArray(c.messages)) out.push(c);
  }
  return out.sort((a, b) => (b.created || 0) - (a.created || 0));
}
function load(key, fallback) {
  try { const v = localStorage.getItem(key); return v === null ? fallback : JSON.parse(v); } catch { return fallback; }
}
function save(key, value) {
  try { localStorage.setItem(key, JSON.stringify(value)); } catch (e) { showBanner(`Could not save to browser storage: ${e.message}`); }
}

const state = {
  conversations: loadConversations(),
  currentId: load(STORE.current, null),
  settings: { ...DEFAULTS, ...load(STORE.settings, {}) },
  model: null,
  streaming: null, // {controller, convId, msg, node}
};

const newId = () => (crypto.randomUUID ? crypto.randomUUID() : `${Date.now()}-${Math.random().toString(16).slice(2)}`);
function current() { return state.conversations.find((c) => c.id === state.currentId) || null; }
// Save one conversation (unless it was deleted meanwhile) and remember which one is open.
function persist(conv = current()) {
  if (conv && state.conversations.includes(conv)) save(STORE.conversation + conv.id, conv);
  save(STORE.current, state.currentId);
}
function createConversation() {
  const conv = { id: newId(), title: "New chat", titled: false, created: Date.now(), updated: Date.now(), messages: [] };
  state.conversations.unshift(conv);
  state.currentId = conv.id;
  persist(conv);
  return conv;
}
function ensureConversation() { return current() || createConversation(); }

// ---------------------------------------------------------------- safe Markdown

const escapeHtml = (s) => String(s).replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" }[c]));

const LANG_ALIASES = {
  py: "python", python3: "python", js: "javascript", jsx: "javascript", mjs: "javascript", node: "javascript",
  ts: "typescript", tsx: "typescript", sh: "bash", zsh: "bash", shell: "bash", console: "shell", shellsession: "shell",
  html: "xml", xhtml: "xml", svg: "xml", xml: "xml", vue: "xml", "c++": "cpp", cc: "cpp", hpp: "cpp", h: "c",
  rs: "rust", golang: "go", yml: "yaml", md: "markdown", patch: "diff", text: "plaintext", txt: "plaintext",
  plain: "plaintext", cs: "csharp", "c#": "csharp", rb: "ruby", toml: "ini", kt: "kotlin", psql: "sql", postgres: "sql",
};
const LANGS = new Set(["python", "javascript", "typescript", "bash", "shell", "json", "xml", "css", "c", "cpp", "rust", "go",
  "java", "sql", "yaml", "markdown", "diff", "plaintext", "csharp", "php", "ruby", "ini", "kotlin", "swift", "lua"]);
const langState = new Map(); // name -> "loading" | "ready" | "failed"

function canonicalLang(lang) {
  const l = String(lang || "").trim().toLowerCase().split(/[\s{,]/)[0];
  const name = LANG_ALIASES[l] || l;
  return LANGS.has(name) ? name : "";
}
// Grammars load on demand (only the core is part of the initial page); a loaded grammar re-renders the answers.
function ensureLanguage(name) {
  if (!name || langState.has(name)) return langState.get(name) === "ready";
  langState.set(name, "loading");
  import(`${HLJS}${name}.min.js`).then((mod) => {
    hljs.registerLanguage(name, mod.default);
    langState.set(name, "ready");
    rerenderAssistantMessages();
  }).catch(() => langState.set(name, "failed"));
  return false;
}

const marked = new Marked({ gfm: true, breaks: false, async: false });
marked.use({
  renderer: {
    // Raw HTML in model output is shown as text, never interpreted.
    html({ text }) { return escapeHtml(text); },
    // Images would fetch from wherever the model points: render them as plain links instead.
    image({ href, text }) { return `<a href="${escapeHtml(href || "")}">${escapeHtml(text || href || "image")}</a>`; },
    code({ text, lang }) {
      const name = canonicalLang(lang);
      const label = String(lang || "").trim().split(/\s/)[0] || "text";
      let body = escapeHtml(text);
      if (name && ensureLanguage(name)) {
        try { body = hljs.highlight(text, { language: name, ignoreIllegals: true }).value; } catch { /* keep plain */ }
      }
      return `<div class="code-block"><div class="code-head"><span class="code-lang">${escapeHtml(label)}</span></div>` +
        `<pre><code class="hljs${name ? ` language-${name}` : ""}">${body}</code></pre></div>`;
    },
  },
});

const SAFE_URL = /^(?:https?:|mailto:|#)/i;
DOMPurify.addHook("afterSanitizeAttributes", (node) => {
  if (node.tagName === "A") {
    const href = node.getAttribute("href");
    if (href !== null && !SAFE_URL.test(href.trim())) node.removeAttribute("href");
    node.setAttribute("target", "_blank");
    node.setAttribute("rel", "noopener noreferrer nofollow");
  }
});
const PURIFY = {
  ALLOWED_TAGS: ["a", "b", "blockquote", "br", "code", "del", "div", "em", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "i",
    "input", "li", "ol", "p", "pre", "s", "span", "strong", "sub", "sup", "table", "tbody", "td", "th", "thead", "tr", "ul"],
  ALLOWED_ATTR: ["href", "title", "class", "align", "start", "type", "checked", "disabled", "colspan", "rowspan"],
  ALLOW_DATA_ARIA_ATTR: false, ALLOW_DATA_ATTR: false,
};

export function renderMarkdown(text) {
  let html;
  try { html = marked.parse(String(text || "")); } catch { html = `<p>${escapeHtml(text)}</p>`; }
  const clean = DOMPurify.sanitize(html, PURIFY);
  // task-list checkboxes are display only
  return clean;
}

function setMarkdown(node, text) {
  node.innerHTML = renderMarkdown(text);
  for (const cb of node.querySelectorAll("input")) { if (cb.type !== "checkbox") cb.remove(); else cb.disabled = true; }
  for (const block of node.querySelectorAll(".code-block")) {
    const btn = document.createElement("button");
    btn.type = "button"; btn.className = "btn icon copy-code"; btn.textContent = "Copy";
    btn.setAttribute("aria-label", "Copy code");
    block.querySelector(".code-head").append(btn);
  }
}

async function copyText(text) {
  try { await navigator.clipboard.writeText(text); return true; } catch { /* fall back */ }
  const ta = document.createElement("textarea");
  ta.value = text; ta.setAttribute("readonly", ""); ta.style.position = "fixed"; ta.style.opacity = "0";
  document.body.append(ta); ta.select();
  let ok = false;
  try { ok = document.execCommand("copy"); } catch { ok = false; }
  ta.remove();
  return ok;
}

// Some models put their reasoning inline as <think>…</think> instead of a separate field.
function splitThink(content) {
  const m = /^\s*<think>([\s\S]*?)(?:<\/think>|$)/.exec(content || "");
  if (!m) return { reasoning: "", content: content || "" };
  return { reasoning: m[1].trim(), content: content.slice(m[0].length).replace(/^\s+/, "") };
}

// ---------------------------------------------------------------- rendering

function fmtNum(n, digits = 0) { return Number.isFinite(n) ? n.toLocaleString(undefined, { maximumFractionDigits: digits, minimumFractionDigits: digits }) : "–"; }
function fmtBytes(b) {
  if (!Number.isFinite(b)) return "–";
  const u = ["B", "KiB", "MiB", "GiB", "TiB"]; let i = 0;
  while (b >= 1024 && i < u.length - 1) { b /= 1024; i += 1; }
  return `${b.toFixed(i >= 3 ? 1 : 0)} ${u[i]}`;
}

function metaLine(msg) {
  const m = msg.meta || {};
  const parts = [];
  if (Number.isFinite(m.prompt_tokens)) parts.push(`${m.prompt_tokens} in / ${m.estimated ? "≈" : ""}${m.completion_tokens ?? "?"} out tokens`);
  if (Number.isFinite(m.ttft_ms)) parts.push(`TTFT ${fmtNum(m.ttft_ms)} ms`);
  if (Number.isFinite(m.tokens_per_second)) parts.push(`${fmtNum(m.tokens_per_second, 1)} tok/s`);
  if (m.finish_reason === "length") parts.push("stopped at max new tokens");
  if (msg.stopped) parts.push("stopped");
  return parts.join(" · ");
}

function messageNode(msg, index) {
  const node = document.createElement("article");
  node.className = `msg ${msg.role}`;
  node.dataset.index = String(index);
  const role = document.createElement("div");
  role.className = "role";
  role.textContent = msg.role === "user" ? "You" : "Assistant";
  node.append(role);
  if (msg.role === "user") {
    const body = document.createElement("div");
    body.className = "body";
    body.textContent = msg.content; // user text is shown verbatim
    node.append(body);
  } else {
    const notice = document.createElement("p");
    notice.className = "notice trimmed-notice"; notice.setAttribute("role", "note"); notice.hidden = true;
    const body = document.createElement("div"); body.className = "body";
    const details = document.createElement("details"); details.className = "reasoning"; details.hidden = true;
    const summary = document.createElement("summary"); summary.textContent = "Reasoning";
    const rbody = document.createElement("div"); rbody.className = "content reasoning-content";
    details.append(summary, rbody);
    const content = document.createElement("div"); content.className = "content answer";
    const reading = document.createElement("p"); reading.className = "reading"; reading.setAttribute("role", "status"); reading.hidden = true;
    body.append(reading, details, content);
    const sources = document.createElement("section"); sources.className = "sources"; sources.hidden = true;
    sources.setAttribute("aria-label", "Sources");
    const meta = document.createElement("div"); meta.className = "meta";
    const err = document.createElement("div"); err.className = "error-box"; err.setAttribute("role", "alert"); err.hidden = true;
    node.append(notice, body, sources, meta, err);
    updateAssistantNode(node, msg);
  }
  return node;
}

function updateAssistantNode(node, msg, streaming = false) {
  const split = splitThink(msg.content);
  const reasoning = [msg.reasoning || "", split.reasoning].filter(Boolean).join("\n\n");
  const details = node.querySelector("details.reasoning");
  details.hidden = !reasoning;
  if (reasoning) {
    details.querySelector("summary").textContent = streaming && !split.content ? "Reasoning (thinking…)" : "Reasoning";
    setMarkdown(details.querySelector(".reasoning-content"), reasoning);
  }
  setMarkdown(node.querySelector(".answer"), split.content);
  const sources = validSources(msg.sources);
  // Retrieval is done and the model reads the sources: seconds on a CPU before its first token.
  const reading = node.querySelector(".reading");
  reading.hidden = !(streaming && sources.length && !msg.content && !reasoning);
  if (!reading.hidden) reading.textContent = `Reading ${sources.length} source${sources.length === 1 ? "" : "s"}…`;
  node.classList.toggle("reading-sources", !reading.hidden);
  renderSources(node, msg.sources, citedRefs(split.content, sources), streaming);
  linkCitations(node.querySelector(".answer"), msg.sources);
  node.classList.toggle("streaming", streaming);
  node.setAttribute("aria-busy", String(streaming)); // screen readers read the answer once it is complete
  const notice = node.querySelector(".trimmed-notice");
  const trimmed = msg.meta && msg.meta.trimmed;
  notice.hidden = !trimmed;
  if (trimmed) notice.textContent = trimmedNotice(trimmed, msg.meta);
  node.querySelector(".meta").textContent = streaming ? "" : metaLine(msg);
  const err = node.querySelector(".error-box");
  err.hidden = !msg.error;
  err.replaceChildren();
  if (msg.error) {
    const p = document.createElement("p"); p.textContent = msg.error.text;
    const retry = document.createElement("button");
    retry.type = "button"; retry.className = "btn small retry"; retry.textContent = "Retry";
    err.append(p, retry);
  }
}

// ---------------------------------------------------------------- sources (retrieval)
// Chunk text comes from the user's documents and is shown as text only (textContent), never as HTML.

const baseName = (path) => String(path || "").split(/[\\/]/).pop() || String(path || "");
function sourceLabel(s) { return `${baseName(s.source)}${s.page ? `, page ${s.page}` : ""}`; }
const SNIPPET_WORDS = 12;
// The first words of a chunk: sources from the same file differ before they are opened.
function snippet(text) {
  const words = String(text || "").replace(/[#>*`|]+/g, " ").split(/\s+/).filter(Boolean);
  // Text without spaces (Chinese, Japanese) is cut by characters instead.
  if (words.length === 1 || (words.length && words.join("").length > 24 * words.length)) {
    const flat = words.join(" ");
    return flat.length > 40 ? `${flat.slice(0, 40)}…` : flat;
  }
  return words.slice(0, SNIPPET_WORDS).join(" ") + (words.length > SNIPPET_WORDS ? " …" : "");
}
function validSources(sources) { return Array.isArray(sources) ? sources.filter((s) => s && Number.isFinite(s.ref)) : []; }
// The refs an answer cites ([ref N] naming one of its sources).
function citedRefs(content, sources) {
  const refs = new Set(sources.map((s) => s.ref));
  const out = new Set();
  for (const m of String(content || "").matchAll(CITATION)) if (refs.has(Number(m[1]))) out.add(Number(m[1]));
  return out;
}

function sourceNode(s) {
  const li = document.createElement("li");
  const details = document.createElement("details");
  details.className = "source"; details.dataset.ref = String(s.ref);
  const summary = document.createElement("summary");
  const num = document.createElement("span"); num.className = "ref"; num.textContent = `[${s.ref}]`;
  const name = document.createElement("span"); name.className = "source-name"; name.textContent = sourceLabel(s);
  const first = document.createElement("span"); first.className = "source-snippet"; first.textContent = ` — ${snippet(s.text)}`;
  summary.append(num, " ", name, first);
  const where = document.createElement("p"); where.className = "source-where";
  const parts = [String(s.source || "")];
  if (s.page) parts.push(`page ${s.page}`);
  if (Number.isFinite(s.chunk)) parts.push(`chunk ${s.chunk}`);
  if (Number.isFinite(s.score)) parts.push(`similarity ${s.score.toFixed(2)}`);
  where.textContent = parts.join(" · ");
  const text = document.createElement("pre"); text.className = "source-text"; text.textContent = String(s.text || "");
  details.append(summary, where, text);
  li.append(details);
  return li;
}

function renderSources(node, sources, cited, streaming) {
  const box = node.querySelector(".sources");
  const list = validSources(sources);
  if (box.sourcesShown !== sources) { // a re-render while streaming keeps opened sources open
    box.sourcesShown = sources;
    box.hidden = list.length === 0;
    if (!list.length) { box.replaceChildren(); return; }
    const head = document.createElement("h3");
    const collection = list[0].collection;
    head.textContent = collection ? `Sources from ${collection}` : "Sources";
    const ol = document.createElement("ol");
    ol.append(...list.map(sourceNode));
    const note = document.createElement("p"); note.className = "sources-note"; note.hidden = true;
    box.replaceChildren(head, ol, note);
  }
  if (!list.length) return;
  for (const d of box.querySelectorAll("details.source")) d.classList.toggle("cited", cited.has(Number(d.dataset.ref)));
  // The model may cite none of them (small models seldom do): the list still says what it was given.
  const note = box.querySelector(".sources-note");
  note.hidden = streaming || cited.size > 0;
  note.textContent = `The answer cites none of these ${list.length} passage${list.length === 1 ? "" : "s"}; they are what it was given to read.`;
}

// The prompt numbers the chunks [ref 1], [ref 2]…; where the answer cites one, it becomes a
// [N] button that opens that source.
const CITATION = /\[ref\s*(\d+)\]/gi;
const HAS_CITATION = /\[ref\s*\d+\]/i; // no g flag: test() keeps no state
function linkCitations(answer, sources) {
  if (!Array.isArray(sources) || !sources.length) return;
  const refs = new Set(sources.map((s) => s && s.ref));
  const walker = document.createTreeWalker(answer, NodeFilter.SHOW_TEXT, {
    acceptNode: (n) => (n.parentElement.closest("code, pre, a") ? NodeFilter.FILTER_REJECT : NodeFilter.FILTER_ACCEPT),
  });
  const texts = [];
  while (walker.nextNode()) if (HAS_CITATION.test(walker.currentNode.nodeValue)) texts.push(walker.currentNode);
  for (const t of texts) {
    const value = t.nodeValue;
    const out = [];
    let last = 0;
    for (const m of value.matchAll(CITATION)) {
      const ref = Number(m[1]);
      if (!refs.has(ref)) continue;
      out.push(value.slice(last, m.index));
      const btn = document.createElement("button");
      btn.type = "button"; btn.className = "cite"; btn.dataset.ref = String(ref); btn.textContent = `[${ref}]`;
      btn.setAttribute("aria-label", `Source ${ref}`);
      out.push(btn);
      last = m.index + m[0].length;
    }
    if (!out.length) continue;
    out.push(value.slice(last));
    t.replaceWith(...out);
  }
}

function openSource(article, ref) {
  const details = article.querySelector(`details.source[data-ref="${Number(ref)}"]`);
  if (!details) return;
  details.open = true;
  details.scrollIntoView({ block: "nearest" });
  details.querySelector("summary").focus();
}

function renderConversation() {
  renderConversationStats();
  const conv = current();
  el.title.textContent = conv ? conv.title : "oss-sidecar";
  document.title = conv && conv.titled ? `${conv.title} · oss-sidecar` : "oss-sidecar chat";
  const nodes = [];
  if (!conv || conv.messages.length === 0) {
    const p = document.createElement("p"); p.className = "empty"; p.id = "empty-hint";
    p.textContent = "Ask anything. The model runs on this machine; nothing leaves it.";
    nodes.push(p);
  } else {
    conv.messages.forEach((m, i) => nodes.push(messageNode(m, i)));
  }
  el.messages.replaceChildren(...nodes);
  if (state.streaming && conv && state.streaming.convId === conv.id) {
    state.streaming.node = el.messages.querySelector(`article[data-index="${conv.messages.indexOf(state.streaming.msg)}"]`);
    if (state.streaming.node) updateAssistantNode(state.streaming.node, state.streaming.msg, true);
  }
  scrollToEnd(true);
}

function rerenderAssistantMessages() {
  const conv = current();
  if (!conv) return;
  for (const node of el.messages.querySelectorAll("article.msg.assistant")) {
    const msg = conv.messages[Number(node.dataset.index)];
    if (msg) updateAssistantNode(node, msg, state.streaming && state.streaming.msg === msg);
  }
}

function renderList() {
  const items = state.conversations.map((c) => {
    const li = document.createElement("li");
    li.dataset.id = c.id;
    if (c.id === state.currentId) li.className = "current";
    const open = document.createElement("button");
    open.type = "button"; open.className = "conv-open"; open.textContent = c.title; open.title = c.title;
    if (c.id === state.currentId) open.setAttribute("aria-current", "true");
    const rename = document.createElement("button");
    rename.type = "button"; rename.className = "btn icon conv-rename"; rename.textContent = "✎";
    rename.setAttribute("aria-label", `Rename ${c.title}`); rename.title = "Rename";
    const del = document.createElement("button");
    del.type = "button"; del.className = "btn icon conv-delete"; del.textContent = "✕";
    del.setAttribute("aria-label", `Delete ${c.title}`); del.title = "Delete";
    li.append(open, rename, del);
    return li;
  });
  el.list.replaceChildren(...items);
}

let scrollPinned = true;
el.messages.addEventListener("scroll", () => {
  const m = el.messages;
  scrollPinned = m.scrollHeight - m.scrollTop - m.clientHeight < 60;
});
function scrollToEnd(force = false) { if (force || scrollPinned) el.messages.scrollTop = el.messages.scrollHeight; }

function setBusy(busy) {
  el.send.disabled = busy;
  el.stop.disabled = !busy;
}

let bannerTimer = null;
function showBanner(text, ms = 0) {
  el.banner.textContent = text; el.banner.hidden = !text;
  clearTimeout(bannerTimer);
  if (text && ms) bannerTimer = setTimeout(() => { el.banner.hidden = true; }, ms);
}

// ---------------------------------------------------------------- parameters

function paramInput(id) { return $(id); }
function fillParams() {
  for (const [key, id] of PARAM_FIELDS) { paramInput(id).value = String(state.settings[key]); paramInput(id).removeAttribute("aria-invalid"); }
  el.system.value = state.settings.system;
}
function readParams() {
  const s = { ...state.settings };
  for (const [key, id, parse, min, max] of PARAM_FIELDS) {
    const input = paramInput(id);
    const v = parse(input.value);
    const ok = Number.isFinite(v) && v >= min && v <= max;
    input.setAttribute("aria-invalid", ok ? "false" : "true");
    if (ok) s[key] = v;
  }
  s.system = el.system.value;
  state.settings = s;
  save(STORE.settings, s);
  showEffectiveWindow();
}
for (const [, id] of PARAM_FIELDS) paramInput(id).addEventListener("input", readParams);
el.system.addEventListener("input", readParams);
el.resetParams.addEventListener("click", () => {
  state.settings = { ...DEFAULTS }; save(STORE.settings, state.settings); fillParams(); el.knowledge.value = "";
});
// Wide screens: the parameters beside the chat, shown or hidden as last chosen. Narrow ones (phones):
// the parameters and the conversation list open over the chat, both closed at first.
const NARROW = window.matchMedia("(max-width: 1100px)");
function setParamsOpen(open, remember = false) {
  el.layout.classList.toggle("params-hidden", !open);
  el.toggleParams.setAttribute("aria-expanded", String(open));
  if (open && NARROW.matches) setSidebarOpen(false);
  if (remember && !NARROW.matches) save(STORE.ui, { ...load(STORE.ui, {}), paramsHidden: !open });
  updateScrim();
}
function setSidebarOpen(open) {
  el.layout.classList.toggle("sidebar-open", open);
  el.toggleConversations.setAttribute("aria-expanded", String(open));
  if (open) setParamsOpen(false);
  updateScrim();
}
const overlayOpen = () => NARROW.matches && (el.layout.classList.contains("sidebar-open") || !el.layout.classList.contains("params-hidden"));
function updateScrim() { el.scrim.hidden = !overlayOpen(); }
function closeOverlays() { if (NARROW.matches) { setSidebarOpen(false); setParamsOpen(false); } }
function applyLayout() {
  setSidebarOpen(false);
  setParamsOpen(!NARROW.matches && !load(STORE.ui, {}).paramsHidden);
}
el.toggleParams.addEventListener("click", () => setParamsOpen(el.layout.classList.contains("params-hidden"), true));
el.closeParams.addEventListener("click", () => { setParamsOpen(false); el.toggleParams.focus(); });
el.toggleConversations.addEventListener("click", () => setSidebarOpen(!el.layout.classList.contains("sidebar-open")));
el.scrim.addEventListener("click", closeOverlays);
NARROW.addEventListener("change", applyLayout);
applyLayout();

// ---------------------------------------------------------------- knowledge base selector

// The knowledge bases from GET /v1/knowledge/collections; "None" first. The choice is remembered
// and selected again when the gateway still has that knowledge base.
async function refreshCollections() {
  let found = null;
  try {
    const res = await fetch("v1/knowledge/collections", { cache: "no-store" });
    if (res.ok) found = ((await res.json()).data || []).filter((c) => c && typeof c.id === "string");
  } catch { found = null; }
  if (found === null) return; // unreachable or refused: keep what is shown
  const options = [new Option("None", "")];
  for (const c of found) {
    const label = Number.isFinite(c.chunks) ? `${c.id} (${c.chunks} chunks)` : c.id;
    options.push(new Option(label, c.id)); // Option() sets text, never HTML
  }
  el.knowledge.replaceChildren(...options);
  const wanted = state.settings.collection;
  el.knowledge.value = found.some((c) => c.id === wanted) ? wanted : "";
  el.knowledge.dataset.count = String(found.length);
}
el.knowledge.addEventListener("change", () => {
  state.settings = { ...state.settings, collection: el.knowledge.value };
  save(STORE.settings, state.settings);
});

// ---------------------------------------------------------------- talking to the gateway

class GatewayError extends Error {
  constructor(text, { status = 0, retryAfter = null, kind = "http" } = {}) {
    super(text); this.status = status; this.retryAfter = retryAfter; this.kind = kind;
  }
}

async function errorFromResponse(res) {
  let message = "";
  try {
    const body = await res.json();
    message = (body && body.error && (body.error.message || body.error.type)) || (body && body.status) || "";
  } catch { message = ""; }
  const retryAfter = res.headers.get("Retry-After");
  let text;
  if (res.status === 429) {
    text = `The gateway is busy: too many requests at once.${retryAfter ? ` Try again in ${retryAfter} s.` : ""}`;
  } else if (res.status === 503) {
    text = "The model is not ready (still loading, or the engine stopped). Try again in a moment.";
  } else if (res.status === 400 || res.status === 422) {
    text = `The gateway rejected the request: ${message || res.statusText}`;
  } else if (res.status === 401 || res.status === 403) {
    text = `The gateway refused the request (${res.status}): ${message || "an API key is required"}.`;
  } else {
    text = `The gateway answered ${res.status}${message ? `: ${message}` : ""}.`;
  }
  if (message && (res.status === 429 || res.status === 503)) text += ` (${message})`;
  return new GatewayError(text, { status: res.status, retryAfter });
}

function buildRequest(conv, upToIndex) {
  const s = state.settings;
  const messages = [];
  if (s.system && s.system.trim()) messages.push({ role: "system", content: s.system });
  conv.messages.slice(0, upToIndex).forEach((m) => {
    if (m.role === "assistant" && (m.error || !m.content)) return;
    const content = m.role === "assistant" ? splitThink(m.content).content : m.content;
    messages.push({ role: m.role, content });
  });
  const body = {
    messages, stream: true, stream_options: { include_usage: true },
    temperature: s.temperature, top_p: s.top_p, max_tokens: s.max_tokens, repetition_penalty: s.repetition_penalty,
    truncate_prompt_tokens: -1,
  };
  // The knowledge base the selector shows (what the user sees is what is sent).
  if (el.knowledge.value) body.retrieval = { collection: el.knowledge.value, top_k: s.top_k };
  if (state.model) body.model = state.model;
  return body;
}

// The gateway's count of a chat's prompt (POST /tokenize, vLLM's shape); NaN when it cannot say.
async function countPrompt(messages) {
  try {
    const res = await fetch("tokenize", { method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ messages, add_generation_prompt: true }) });
    const count = res.ok ? (await res.json()).count : NaN;
    return Number.isFinite(count) ? count : NaN;
  } catch { return NaN; }
}

async function* sseEvents(body) {
  const reader = body.getReader();
  const decoder = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += decoder.decode(value, { stream: true });
      let cut;
      while ((cut = buf.search(/\r?\n\r?\n/)) >= 0) {
        const block = buf.slice(0, cut);
        buf = buf.slice(cut + (buf[cut] === "\r" ? 4 : 2));
        const data = block.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
        if (data) yield data;
      }
    }
    buf += decoder.decode();
    const tail = buf.split(/\r?\n/).filter((l) => l.startsWith("data:")).map((l) => l.slice(5).replace(/^ /, "")).join("\n");
    if (tail) yield tail;
  } finally {
    reader.releaseLock();
  }
}

function scheduleStreamRender() {
  const s = state.streaming;
  if (!s || s.raf) return;
  s.raf = requestAnimationFrame(() => {
    s.raf = 0;
    if (s.node && s.node.isConnected) { updateAssistantNode(s.node, s.msg, true); scrollToEnd(); }
    // keep partial answers across a reload
    const now = Date.now();
    if (now - (s.savedAt || 0) > 1000) { s.savedAt = now; s.conv.updated = now; persist(s.conv); }
  });
}

async function generate(conv) {
  if (state.streaming) return;
  const msg = { role: "assistant", content: "", reasoning: "", meta: {}, created: Date.now(), pending: true };
  conv.messages.push(msg);
  conv.updated = Date.now();
  const controller = new AbortController();
  state.streaming = { controller, convId: conv.id, conv, msg, node: null, raf: 0 };
  setBusy(true);
  persist(conv);
  renderConversation();
  const body = buildRequest(conv, conv.messages.length - 1);
  const t0 = performance.now();
  let tFirst = null;
  let pieces = 0;
  try {
    let res;
    try {
      res = await fetch("v1/chat/completions", {
        method: "POST", headers: { "Content-Type": "application/json", Accept: "text/event-stream" },
        body: JSON.stringify(body), signal: controller.signal,
      });
    } catch (e) {
      if (controller.signal.aborted) throw e;
      throw new GatewayError(`Cannot reach the gateway at ${location.origin}. Is \`oss-sidecar serve\` running?`, { kind: "network" });
    }
    if (!res.ok) throw await errorFromResponse(res);
    const trimmed = parseInt(res.headers.get("X-History-Trimmed") || "0", 10);
    if (trimmed > 0) msg.meta.trimmed = trimmed;
    // The window the history was fitted to, and why it is that size (the notice says so).
    const fittedTo = parseInt(res.headers.get("X-History-Window") || "", 10);
    if (Number.isFinite(fittedTo)) Object.assign(msg.meta, { window: fittedTo, max_tokens: body.max_tokens, context: state.context });
    // The prompt as the gateway counted it: what a stopped answer (no usage chunk) reports.
    const counted = parseInt(res.headers.get("X-Prompt-Tokens") || "", 10);
    if (Number.isFinite(counted)) msg.meta.prompt_tokens = counted;
    let finished = false;
    try {
      for await (const data of sseEvents(res.body)) {
        if (data === "[DONE]") { finished = true; break; }
        let chunk;
        try { chunk = JSON.parse(data); } catch { continue; }
        if (chunk.error) {
          throw new GatewayError(`The gateway reported an error mid-answer: ${chunk.error.message || chunk.error.type || "unknown"}`, { status: chunk.error.code || 0 });
        }
        if (chunk.model && !state.model) state.model = chunk.model;
        // Retrieval: the first event carries the chunks the prompt numbered [ref 1], [ref 2]…
        if (Array.isArray(chunk.sources)) { msg.sources = chunk.sources; scheduleStreamRender(); }
        const choice = chunk.choices && chunk.choices[0];
        if (choice) {
          const d = choice.delta || {};
          const piece = (d.content || "") + (d.reasoning_content || d.reasoning || "");
          if (piece && tFirst === null) tFirst = performance.now();
          if (piece) pieces += 1; // about one token each: the count of an answer stopped before its usage
          if (d.reasoning_content) msg.reasoning += d.reasoning_content;
          else if (d.reasoning) msg.reasoning += d.reasoning;
          if (d.content) msg.content += d.content;
          if (choice.finish_reason) msg.meta.finish_reason = choice.finish_reason;
          if (piece) scheduleStreamRender();
        }
        if (chunk.usage) {
          msg.meta.prompt_tokens = chunk.usage.prompt_tokens;
          msg.meta.completion_tokens = chunk.usage.completion_tokens;
          delete msg.meta.estimated;
        }
      }
    } catch (e) {
      if (controller.signal.aborted || e instanceof GatewayError) throw e;
      throw new GatewayError("The connection to the gateway was lost in the middle of the answer.", { kind: "network" });
    }
    if (!finished && !msg.meta.finish_reason) {
      throw new GatewayError("The answer ended before the gateway finished it (connection lost).", { kind: "network" });
    }
  } catch (e) {
    if (controller.signal.aborted) {
      msg.stopped = true;
    } else {
      const err = e instanceof GatewayError ? e : new GatewayError(`Unexpected error: ${e && e.message ? e.message : e}`);
      msg.error = { text: err.message, status: err.status, kind: err.kind };
      if (err.status === 404 && body.retrieval) refreshCollections(); // the knowledge base may be gone
    }
  } finally {
    const tEnd = performance.now();
    if (!Number.isFinite(msg.meta.completion_tokens) && pieces > 0) {
      msg.meta.completion_tokens = pieces;
      msg.meta.estimated = true;
    }
    // Stopped before the usage chunk, and the gateway did not count the prompt while fitting it:
    // its tokenizer counts the messages sent (without a knowledge base's passages: marked ≈).
    if (msg.stopped && !Number.isFinite(msg.meta.prompt_tokens)) {
      msg.meta.prompt_tokens = await countPrompt(body.messages);
      if (body.retrieval) msg.meta.estimated = true;
    }
    if (tFirst !== null) {
      msg.meta.ttft_ms = tFirst - t0;
      const n = msg.meta.completion_tokens;
      if (Number.isFinite(n) && n > 1 && tEnd > tFirst) msg.meta.tokens_per_second = (n - 1) / ((tEnd - tFirst) / 1000);
    }
    if (state.streaming && state.streaming.raf) cancelAnimationFrame(state.streaming.raf);
    state.streaming = null;
    delete msg.pending;
    conv.updated = Date.now();
    persist(conv);
    setBusy(false);
    if (current() === conv) {
      const node = el.messages.querySelector(`article[data-index="${conv.messages.indexOf(msg)}"]`);
      if (node) updateAssistantNode(node, msg, false);
      scrollToEnd();
    }
    renderConversationStats();
    refreshStats();
  }
}

function send() {
  const text = el.input.value;
  if (!text.trim() || state.streaming) return;
  readParams();
  const conv = ensureConversation();
  conv.messages.push({ role: "user", content: text, created: Date.now() });
  if (!conv.titled) {
    conv.title = text.trim().replace(/\s+/g, " ").slice(0, 48) || "New chat";
    conv.titled = true;
  }
  el.input.value = "";
  renderList();
  generate(conv);
}

function stop() {
  if (state.streaming) state.streaming.controller.abort();
}

function retry(index) {
  const conv = current();
  if (!conv || state.streaming) return;
  // Drop the failed answer and ask again with the same history.
  if (conv.messages[index] && conv.messages[index].role === "assistant") conv.messages.splice(index, 1);
  conv.messages.length = Math.min(conv.messages.length, index);
  readParams();
  generate(conv);
}

// ---------------------------------------------------------------- conversations

function switchTo(id) {
  if (state.currentId === id) return;
  state.currentId = id;
  persist();
  renderList();
  renderConversation();
}
function deleteConversation(id) {
  if (state.streaming && state.streaming.convId === id) stop();
  state.conversations = state.conversations.filter((c) => c.id !== id);
  try { localStorage.removeItem(STORE.conversation + id); } catch { /* ignore */ }
  if (state.currentId === id) state.currentId = state.conversations.length ? state.conversations[0].id : null;
  persist();
  renderList();
  renderConversation();
}
function startRename(li) {
  const conv = state.conversations.find((c) => c.id === li.dataset.id);
  if (!conv) return;
  const input = document.createElement("input");
  input.type = "text"; input.value = conv.title; input.setAttribute("aria-label", "Conversation name");
  let done = false;
  const finish = (commit) => {
    if (done) return; done = true;
    const v = input.value.trim();
    if (commit && v) { conv.title = v; conv.titled = true; persist(conv); }
    renderList();
    if (conv.id === state.currentId) el.title.textContent = conv.title;
  };
  input.addEventListener("keydown", (e) => {
    if (e.key === "Enter") { e.preventDefault(); finish(true); }
    else if (e.key === "Escape") { e.preventDefault(); e.stopPropagation(); finish(false); }
  });
  input.addEventListener("blur", () => finish(true));
  li.replaceChildren(input);
  input.focus(); input.select();
}

el.list.addEventListener("click", (e) => {
  const li = e.target.closest("li");
  if (!li || !li.dataset.id) return;
  if (e.target.closest(".conv-open")) { switchTo(li.dataset.id); closeOverlays(); }
  else if (e.target.closest(".conv-rename")) startRename(li);
  else if (e.target.closest(".conv-delete")) deleteConversation(li.dataset.id);
});

el.newChat.addEventListener("click", () => {
  const conv = current();
  if (conv && conv.messages.length === 0) { closeOverlays(); el.input.focus(); return; }
  createConversation();
  closeOverlays();
  renderList(); renderConversation(); el.input.focus();
});

el.clear.addEventListener("click", () => {
  const conv = current();
  if (!conv) return;
  stop();
  // Everything goes: the turns and the title taken from the first question.
  conv.messages = [];
  conv.title = "New chat";
  conv.titled = false;
  conv.updated = Date.now();
  persist(conv);
  renderList();
  renderConversation();
  el.input.focus();
});

function download(name, type, text) {
  const url = URL.createObjectURL(new Blob([text], { type }));
  const a = document.createElement("a");
  a.href = url; a.download = name; document.body.append(a); a.click(); a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}
function fileStem(conv) { return (conv.title || "conversation").replace(/[^\w.-]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60) || "conversation"; }
export function toMarkdown(conv) {
  const lines = [`# ${conv.title}`, "", `_Exported from oss-sidecar on ${new Date().toISOString()}_`, ""];
  for (const m of conv.messages) {
    lines.push(`## ${m.role === "user" ? "You" : "Assistant"}`, "");
    if (m.reasoning) lines.push("<details><summary>Reasoning</summary>", "", m.reasoning, "", "</details>", "");
    lines.push(m.content || (m.error ? `_(error: ${m.error.text})_` : ""), "");
    if (Array.isArray(m.sources) && m.sources.length) {
      lines.push("Sources:", "", ...m.sources.map((s) => `- [${s.ref}] ${s.source}${s.page ? `, page ${s.page}` : ""}`), "");
    }
  }
  return lines.join("\n");
}
el.exportMd.addEventListener("click", () => {
  const conv = current(); if (!conv) return;
  download(`${fileStem(conv)}.md`, "text/markdown", toMarkdown(conv));
});
el.exportJson.addEventListener("click", () => {
  const conv = current(); if (!conv) return;
  const out = { title: conv.title, created: new Date(conv.created).toISOString(), settings: state.settings,
    messages: conv.messages.map(({ role, content, reasoning, meta, sources }) => ({ role, content, ...(reasoning ? { reasoning } : {}),
      ...(meta ? { meta } : {}), ...(sources ? { sources } : {}) })) };
  download(`${fileStem(conv)}.json`, "application/json", JSON.stringify(out, null, 2));
});

// ---------------------------------------------------------------- messages area events

el.messages.addEventListener("click", async (e) => {
  const copy = e.target.closest(".copy-code");
  if (copy) {
    const code = copy.closest(".code-block").querySelector("code");
    const ok = await copyText(code ? code.textContent : "");
    copy.textContent = ok ? "Copied" : "Copy failed";
    setTimeout(() => { copy.textContent = "Copy"; }, 1500);
    return;
  }
  const cite = e.target.closest(".cite");
  if (cite) { openSource(cite.closest("article"), cite.dataset.ref); return; }
  const r = e.target.closest(".retry");
  if (r) retry(Number(r.closest("article").dataset.index));
});

// ---------------------------------------------------------------- composer and keyboard

el.composer.addEventListener("submit", (e) => { e.preventDefault(); send(); });
el.stop.addEventListener("click", stop);
el.input.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing && !e.altKey && !e.ctrlKey && !e.metaKey) {
    e.preventDefault();
    send();
  }
});
document.addEventListener("keydown", (e) => {
  if (e.key !== "Escape") return;
  if (overlayOpen()) { e.preventDefault(); closeOverlays(); } else if (state.streaming) { e.preventDefault(); stop(); }
});

// ---------------------------------------------------------------- status bar

function setStat(name, text, estimated = false) {
  const n = document.querySelector(`[data-stat="${name}"]`);
  if (n) { n.textContent = text; n.classList.toggle("estimated", estimated); }
}

// This conversation's numbers, from its own answers (the server's /v1/stats counts every client).
function conversationNumbers(conv) {
  const out = { tokensIn: 0, tokensOut: 0, estimated: false, ttfts: [], lastTps: NaN };
  for (const m of (conv && conv.messages) || []) {
    if (m.role !== "assistant" || !m.meta) continue;
    if (Number.isFinite(m.meta.prompt_tokens)) out.tokensIn += m.meta.prompt_tokens;
    if (Number.isFinite(m.meta.completion_tokens)) out.tokensOut += m.meta.completion_tokens;
    if (m.meta.estimated) out.estimated = true;
    if (Number.isFinite(m.meta.ttft_ms)) { out.ttfts.push(m.meta.ttft_ms); out.lastTps = m.meta.tokens_per_second; }
  }
  return out;
}
function renderConversationStats() {
  const n = conversationNumbers(current());
  const ms = (v) => (Number.isFinite(v) ? `${fmtNum(v)} ms` : "–");
  setStat("conv-in", fmtNum(n.tokensIn));
  setStat("conv-out", fmtNum(n.tokensOut), n.estimated);
  setStat("conv-ttft", ms(n.ttfts[n.ttfts.length - 1]));
  setStat("conv-avg-ttft", ms(n.ttfts.length ? n.ttfts.reduce((a, b) => a + b, 0) / n.ttfts.length : NaN));
  setStat("conv-turns", fmtNum(n.ttfts.length));
  setStat("conv-tps", Number.isFinite(n.lastTps) ? `${fmtNum(n.lastTps, 1)} tok/s` : "–");
}

// ---------------------------------------------------------------- the history window
// The gateway fits a history to min(history_window_tokens, context − min(max_tokens, context/2))
// (Serving._budget): the answer's budget comes out of the window.

function effectiveWindow(setting, context, maxTokens) {
  if (!Number.isFinite(setting)) return NaN;
  if (!Number.isFinite(context)) return setting;
  return Math.min(setting, context - Math.min(maxTokens || 0, Math.floor(context / 2)));
}
function windowReason(window, context, maxTokens) {
  if (!Number.isFinite(context) || !Number.isFinite(maxTokens)) return "";
  const reserved = Math.min(maxTokens, Math.floor(context / 2));
  if (window !== context - reserved) return "the server's history_window_tokens setting";
  return `the model's context of ${fmtNum(context)} less ${fmtNum(reserved)} kept for the answer`;
}
function showEffectiveWindow() {
  const w = effectiveWindow(state.historyWindow, state.context, state.settings.max_tokens);
  const why = Number.isFinite(w) ? windowReason(w, state.context, state.settings.max_tokens) : "";
  el.effectiveWindow.textContent = Number.isFinite(w) ? `History window: ${fmtNum(w)} tokens${why ? ` (${why})` : ""}` : "History window: –";
}
function trimmedNotice(trimmed, meta) {
  const head = `${trimmed} older message${trimmed === 1 ? " was" : "s were"} left out of this answer's context to fit the history window`;
  if (!Number.isFinite(meta.window)) return `${head}.`; // answers saved before the gateway said which
  const why = windowReason(meta.window, meta.context, meta.max_tokens);
  return `${head} of ${fmtNum(meta.window)} tokens${why ? `: ${why}` : ""}.`;
}
let statsBusy = false;
async function refreshStats() {
  if (statsBusy) return;
  statsBusy = true;
  try {
    const res = await fetch("v1/stats", { cache: "no-store" });
    const s = await res.json();
    const status = s.status || (res.ok ? "ready" : "unavailable");
    setStat("status", status);
    el.dot.className = `dot ${status === "ready" ? "ready" : status === "loading" ? "loading" : "down"}`;
    if (status === "loading") showBanner("The model is loading. Messages can be sent once it is ready.");
    else if (status !== "ready") showBanner(`The engine is ${status}.`);
    else if (el.banner.dataset.kind !== "keep") showBanner("");
    setStat("engine", s.engine || "–");
    setStat("model", s.model || "–");
    if (s.model && !state.model) state.model = s.model;
    if (Number.isFinite(s.history_window_tokens)) state.historyWindow = s.history_window_tokens;
    if (Number.isFinite(s.context_length)) state.context = s.context_length;
    showEffectiveWindow();
    const devs = (s.memory && s.memory.devices) || [];
    setStat("memory-kind", s.memory && s.memory.kind === "gpu" ? "GPU" : "mem");
    setStat("memory", devs.length
      ? devs.map((d) => `${fmtBytes(d.used_bytes)} / ${fmtBytes(d.total_bytes)}`).join(", ")
      : "–");
    const r = s.requests || {};
    setStat("running", fmtNum(r.running));
    setStat("waiting", fmtNum(r.waiting));
  } catch {
    setStat("status", "unreachable");
    el.dot.className = "dot down";
  } finally {
    statsBusy = false;
  }
}
setInterval(() => { if (!document.hidden) refreshStats(); }, STATS_INTERVAL_MS);
document.addEventListener("visibilitychange", () => { if (!document.hidden) { refreshStats(); refreshCollections(); } });

// Another tab changed a stored conversation: take its version, except for the one streaming here.
window.addEventListener("storage", (e) => {
  if (e.key !== null && !e.key.startsWith(STORE.conversation)) return;
  if (e.key === null) {
    const mine = state.streaming ? state.streaming.conv : null;
    state.conversations = loadConversations().map((c) => (mine && c.id === mine.id ? mine : c));
  } else {
    const id = e.key.slice(STORE.conversation.length);
    if (state.streaming && state.streaming.convId === id) return;
    const i = state.conversations.findIndex((c) => c.id === id);
    let incoming = null;
    try { incoming = e.newValue ? JSON.parse(e.newValue) : null; } catch { incoming = null; }
    if (incoming && Array.isArray(incoming.messages)) {
      if (i >= 0) state.conversations[i] = incoming;
      else state.conversations.push(incoming);
      state.conversations.sort((a, b) => (b.created || 0) - (a.created || 0));
    } else if (i >= 0) {
      state.conversations.splice(i, 1);
    }
  }
  // This tab keeps showing its own conversation (an empty page if another tab deleted it).
  renderList();
  const streamingHere = state.streaming && state.streaming.convId === state.currentId;
  if (!streamingHere && (e.key === null || e.key === STORE.conversation + state.currentId)) renderConversation();
});

// ---------------------------------------------------------------- start

fillParams();
if (!current() && state.conversations.length) state.currentId = state.conversations[0].id;
// Answers interrupted by a reload are kept as they were, marked stopped.
// (Only for answers no other tab is still streaming: those are younger than a few seconds' worth of saves.)
for (const c of state.conversations) {
  for (const m of c.messages) {
    if (m.pending && Date.now() - (c.updated || 0) > 5000) { delete m.pending; m.stopped = true; save(STORE.conversation + c.id, c); }
  }
}
renderList();
renderConversation();
refreshStats();
el.input.focus();
window.__chatReady = true;
// After __chatReady: the page works without the list; data-count is set once it arrived.
refreshCollections();
