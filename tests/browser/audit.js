// Injected into a chapter page by tests/test_browser.py: once the page (and MathJax) settled, measure
// what a reader would see as broken and append it, as JSON, in a pre element with the id lmdist-audit.
window.addEventListener("load", () => setTimeout(() => {
  const article = document.querySelector("article.bd-article") || document.querySelector("main");
  const out = {stderr: [], warnings: [], bars: [], echoes: [], cut: [], wide: [], unnumbered: [],
               opening: article.querySelectorAll(".chapter-opening").length,
               pageOverflow: document.documentElement.scrollWidth - window.innerWidth};
  const snippet = (el) => (el.innerText || el.textContent || "").trim().replace(/\s+/g, " ").slice(0, 100);
  article.querySelectorAll(".cell_output").forEach((cell) => {
    const text = cell.textContent;
    cell.querySelectorAll(".output.stderr").forEach((o) => out.stderr.push(snippet(o)));
    if (/Warning\b|warnings\.warn/.test(text)) out.warnings.push(snippet(cell));
    if (/\d+%\|/.test(text) || /(it|cell)\/s\]/.test(text)) out.bars.push(snippet(cell));
    if (/\d+ rows × \d+ columns/.test(text)) out.cut.push(snippet(cell));
    // A plain-text result is the repr of a value the cell ended with (prints are "stream" outputs;
    // tables, Markdown and figures have their own types).
    cell.querySelectorAll(".output.text_plain").forEach((o) => out.echoes.push(snippet(o)));
  });
  // Content wider than its column: a box that clips or scrolls sideways, or reaches past the column.
  const right = article.getBoundingClientRect().right;
  article.querySelectorAll("*").forEach((el) => {
    if (el.closest("mjx-container") && el.tagName !== "MJX-CONTAINER") return;  // MathJax's own boxes
    if (el.offsetParent === null) return;  // folded (display: none)
    const style = getComputedStyle(el);
    if (style.display.startsWith("inline") || el.clientWidth === 0) return;  // boxes only: inline runs wrap
    const clips = ["auto", "scroll", "hidden"].includes(style.overflowX);
    if ((clips && el.scrollWidth > el.clientWidth + 1) || el.getBoundingClientRect().right > right + 1) {
      out.wide.push(`${el.tagName.toLowerCase()}.${el.className}: ${snippet(el).slice(0, 60)}`);
    }
  });
  article.querySelectorAll(".cell_output img, figure img").forEach((img) => {
    const figure = img.closest("figure");
    if (!figure || !figure.querySelector(".caption-number")) out.unnumbered.push(img.getAttribute("src"));
  });
  const pre = document.createElement("pre");
  pre.id = "lmdist-audit";
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
}, 4000));
