/* qa-bot chat widget. Add to any page:
 *   <script src="https://qa-bot.example.com/widget.js" defer></script>
 * Optional attributes: data-api-key="…" (when the server sets QA_BOT_SERVER__API_KEY),
 * data-inline="true" (fill the page instead of a floating button; used by /embed).
 * It talks to /api/chat on the server it was loaded from; that server must list this page's
 * origin in QA_BOT_SERVER__ALLOWED_ORIGINS. Document text is only ever inserted as text, never as HTML.
 */
(() => {
  const script = document.currentScript;
  const base = new URL(script.src, location.href).origin;
  const apiKey = script.dataset.apiKey;
  const inline = script.dataset.inline === "true";
  const history = [];

  const host = document.createElement("div");
  host.id = "qa-bot-widget";
  const root = host.attachShadow({ mode: "open" });
  root.innerHTML = `
    <style>
      :host { all: initial; font: 15px/1.5 system-ui, sans-serif; color: #1f2328; }
      .open { position: fixed; right: 20px; bottom: 20px; width: 56px; height: 56px; border: 0;
              border-radius: 50%; background: #0b5cad; color: #fff; font-size: 24px;
              cursor: pointer; box-shadow: 0 2px 10px rgba(0,0,0,.25); z-index: 2147483646; }
      .panel { position: fixed; right: 20px; bottom: 88px; width: min(380px, 92vw);
               height: min(520px, 75vh); display: flex; flex-direction: column; background: #fff;
               border: 1px solid #d0d7de; border-radius: 12px; z-index: 2147483647;
               box-shadow: 0 4px 24px rgba(0,0,0,.2); overflow: hidden; }
      .panel.inline { position: static; width: 100%; height: 100vh; border: 0; border-radius: 0;
                      box-shadow: none; }
      .panel[hidden] { display: none; }
      header { padding: 10px 14px; background: #0b5cad; color: #fff; font-weight: 600; }
      .log { flex: 1; overflow-y: auto; padding: 10px 14px; }
      .msg { margin: 8px 0; white-space: pre-wrap; }
      .user { text-align: right; color: #0b5cad; }
      .error { color: #b42318; }
      ol { margin: 6px 0 0; padding-left: 20px; font-size: 13px; color: #59636e; }
      li a { color: #0b5cad; }
      .unverified { color: #b42318; }
      .related { color: #555; margin-top: 6px; }
      form { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #d0d7de; }
      input { flex: 1; padding: 8px; border: 1px solid #d0d7de; border-radius: 6px; font: inherit; }
      form button { padding: 8px 12px; border: 0; border-radius: 6px; background: #0b5cad;
                    color: #fff; font: inherit; cursor: pointer; }
    </style>
    <button class="open" aria-label="Ask the documents" title="Ask the documents">?</button>
    <section class="panel" hidden>
      <header>Ask the documents</header>
      <div class="log" aria-live="polite"></div>
      <form>
        <input name="question" placeholder="Ask a question…" maxlength="2000" autocomplete="off"
               aria-label="Question">
        <button type="submit">Ask</button>
      </form>
    </section>`;
  const panel = root.querySelector(".panel");
  const log = root.querySelector(".log");
  const form = root.querySelector("form");
  const opener = root.querySelector(".open");
  if (inline) {
    opener.remove();
    panel.classList.add("inline");
    panel.hidden = false;
  }
  opener.addEventListener("click", () => {
    panel.hidden = !panel.hidden;
    if (!panel.hidden) form.question.focus();
  });

  function message(kind, text) {
    const node = document.createElement("div");
    node.className = `msg ${kind}`;
    node.textContent = text;
    log.append(node);
    log.scrollTop = log.scrollHeight;
    return node;
  }

  function newTab(href, text) {
    const link = document.createElement("a");
    link.href = href;
    link.target = "_blank";
    link.rel = "noopener";
    link.textContent = text;
    return link;
  }

  // A list item for a passage (a citation or a related passage) and its ``text``: its title
  // linked to the source viewer, its place, a web page's own link, the text.
  function passageItem(p, text) {
    const item = document.createElement("li");
    item.append(newTab(`${base}/sources/${encodeURIComponent(p.chunk_id)}?start=${p.offset}` +
      `&end=${p.offset + text.length}`, p.title));
    if (p.location) item.append(` · ${p.location}`);
    if (p.url && /^https?:\/\//i.test(p.url)) {  // a web page: a link to the page itself
      item.append(" (", newTab(p.url, "page"), ")");
    }
    item.append(` — “${text}”`);
    return item;
  }

  function showAnswer(node, answer) {
    node.textContent = answer.answer;
    if (answer.short_answer) {
      const short = document.createElement("strong");
      short.textContent = answer.short_answer;
      node.prepend(short, " — ");
    }
    showRelated(node, answer.related || []);
    if (!answer.citations.length && !answer.unsupported.length) return;
    const list = document.createElement("ol");
    for (const c of answer.citations) {
      const item = passageItem(c, c.quote);
      item.value = c.n;
      if (!c.verified) {
        const flag = document.createElement("span");
        flag.className = "unverified";
        flag.textContent = " (does not support the sentence citing it)";
        item.append(flag);
      }
      list.append(item);
    }
    node.append(list);
    if (!answer.unsupported.length) return;
    const shown = answer.answer.replace(/\s*\[\d+(?:\s*,\s*\d+)*\]/g, "");  // markers out
    const kept = answer.unsupported.some((sentence) => shown.includes(sentence));
    const withheld = document.createElement("details");
    const summary = document.createElement("summary");
    summary.className = "unverified";
    summary.textContent = kept ? `⚠ Not supported (${answer.unsupported.length})`
      : `⚠ Withheld: no document supports (${answer.unsupported.length})`;
    withheld.append(summary);
    for (const sentence of answer.unsupported) {
      const item = document.createElement("div");
      item.className = "unverified";
      item.textContent = sentence;
      withheld.append(item);
    }
    node.append(withheld);
  }

  // A refusal's related passages: marked as not an answer, unnumbered, each linked to the
  // source viewer (and to a web page), with its place and excerpt.
  function showRelated(node, related) {
    if (!related.length) return;
    const box = document.createElement("div");
    box.className = "related";
    const heading = document.createElement("div");
    heading.textContent = "Related passages (not an answer: where to read on)";
    const list = document.createElement("ul");
    for (const r of related) {
      list.append(passageItem(r, r.excerpt));
    }
    box.append(heading, list);
    node.append(box);
  }

  function handle(block, node, question) {
    let event = "message";
    let data = "";
    for (const line of block.split("\n")) {
      if (line.startsWith("event:")) event = line.slice(6).trim();
      else if (line.startsWith("data:")) data += line.slice(5).trimStart();
    }
    if (!data) return;
    const payload = JSON.parse(data);
    if (event === "token") node.textContent += payload.text;
    if (event === "answer") {
      showAnswer(node, payload);
      history.push([question, payload.answer]);
      history.splice(0, Math.max(0, history.length - 4));
    }
    if (event === "error") {
      node.textContent = payload.message;
      node.classList.add("error");
    }
  }

  async function ask(question) {
    message("user", question);
    const node = message("bot", "");
    const headers = { "content-type": "application/json" };
    if (apiKey) headers.authorization = `Bearer ${apiKey}`;
    try {
      const response = await fetch(`${base}/api/chat`, {
        method: "POST",
        headers,
        body: JSON.stringify({ question, history }),
      });
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(body.detail || `qa-bot answered with HTTP ${response.status}.`);
      }
      const reader = response.body.getReader();
      const decoder = new TextDecoder();
      let buffer = "";
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        buffer += decoder.decode(value, { stream: true }).replace(/\r\n/g, "\n");
        let cut;
        while ((cut = buffer.indexOf("\n\n")) >= 0) {
          handle(buffer.slice(0, cut), node, question);
          buffer = buffer.slice(cut + 2);
        }
      }
    } catch (error) {
      node.textContent = error instanceof TypeError
        ? `Cannot reach qa-bot at ${base}: check that the server runs and allows this site ` +
          "(QA_BOT_SERVER__ALLOWED_ORIGINS)."
        : error.message;
      node.classList.add("error");
    }
  }

  form.addEventListener("submit", (event) => {
    event.preventDefault();
    const question = form.question.value.trim();
    if (!question) return;
    form.question.value = "";
    ask(question);
  });

  document.body.append(host);
})();
