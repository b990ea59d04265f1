// The lineage viewer's interactive chart: the chart step's stored Plotly figure, drawn with the vendored
// plotly.js when the operator opens it (a hidden container has no size to draw in). Loaded on that page only.
"use strict";

(function () {
  // plotly.js draws rich text (<b>, <i>, <sup>...) as SVG spans with inline style attributes, which the
  // pages' CSP refuses (style-src 'self'): the figure's text is drawn plain, line breaks kept.
  const RICH_TEXT_TAG = /<(?!br\s*\/?>)\/?[a-z][^>]*>/gi;

  function plainText(value) {
    if (typeof value === "string") return value.replace(RICH_TEXT_TAG, "");
    if (Array.isArray(value)) return value.map(plainText);
    if (value && typeof value === "object") {
      return Object.fromEntries(Object.entries(value).map(([key, item]) => [key, plainText(item)]));
    }
    return value;
  }

  async function draw(details) {
    const target = details.querySelector(".plotly-target");
    if (!target || target.dataset.drawn) return;
    target.dataset.drawn = "pending";
    const status = details.querySelector(".plotly-status");
    const response = await fetch(target.dataset.figure, { credentials: "same-origin" });
    if (!response.ok) {
      status.textContent = `The figure could not be loaded (HTTP ${response.status}).`;
      return;
    }
    const figure = plainText(await response.json());
    // the figure's own height (its panels need it); the page's width
    const layout = Object.assign({}, figure.layout || {}, { autosize: true });
    delete layout.width;
    await window.Plotly.newPlot(target, figure.data || [], layout, { responsive: true, displaylogo: false });
    target.dataset.drawn = "yes";
    status.textContent = "";
  }

  // toggle does not bubble: listen in the capture phase, so charts swapped in by the live stream count too
  document.addEventListener(
    "toggle",
    (event) => {
      const details = event.target;
      if (details instanceof HTMLDetailsElement && details.open && details.classList.contains("interactive-chart")) {
        draw(details);
      }
    },
    true,
  );
})();
