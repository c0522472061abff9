// Ask AI webview. The HTML it shows was rendered by the extension (src/markdown.ts):
// raw HTML escaped, links restricted; the CSP also forbids inline handlers.
(function () {
  const vscode = acquireVsCodeApi();
  const question = document.getElementById("question");
  const answer = document.getElementById("answer");
  const status = document.getElementById("status");
  const stop = document.getElementById("stop");

  window.addEventListener("message", (event) => {
    const message = event.data;
    if (message.type === "start") {
      question.textContent = message.question;
      answer.innerHTML = "";
      status.textContent = "Thinking…";
      stop.hidden = false;
    } else if (message.type === "render") {
      answer.innerHTML = message.html;
      status.textContent = message.done ? message.note || "" : "";
      stop.hidden = message.done;
    }
  });

  document.addEventListener("click", (event) => {
    const button = event.target instanceof Element ? event.target.closest("button[data-action]") : null;
    if (button) {
      vscode.postMessage({ type: button.dataset.action, index: Number(button.dataset.index) });
    }
  });
  stop.addEventListener("click", () => vscode.postMessage({ type: "stop" }));
  vscode.postMessage({ type: "ready" });
})();
