// DermaTrack follow-up pages: the trend chart of a lesion (probabilities and size), the two-visit comparison, printing.
(function () {
  "use strict";

  // Okabe–Ito colours, one per series, each with its own dash pattern and point style so the
  // lines stay apart without colour; the malignant sum is black, solid and bold.
  const SERIES_STYLE = {
    akiec: { color: "#E69F00", dash: [2, 3], point: "triangle" },
    bcc: { color: "#CC79A7", dash: [10, 4], point: "rectRot" },
    bkl: { color: "#56B4E9", dash: [8, 3, 2, 3], point: "rect" },
    df: { color: "#009E73", dash: [12, 4, 2, 4, 2, 4], point: "star" },
    mel: { color: "#D55E00", dash: [], point: "circle" },
    nv: { color: "#0072B2", dash: [6, 3], point: "crossRot" },
    vasc: { color: "#F0E442", dash: [3, 6], point: "rectRounded", pointBorder: "#6b6400" },
    malignant: { color: "#000000", dash: [], point: "circle", width: 4, radius: 5 },
  };

  // The x-axis is real time: days since the first visit, labelled with dates.
  function dayAxis(data) {
    const start = new Date(data.start + "T00:00:00Z");
    return {
      type: "linear",
      title: { display: true, text: "Visit date" },
      ticks: {
        callback: function (value) {
          const day = new Date(start.getTime() + value * 86400000);
          return day.toISOString().slice(0, 10);
        },
        maxTicksLimit: 6,
      },
    };
  }

  function points(data, values) {
    return values.map(function (value, index) { return { x: data.days[index], y: value }; });
  }

  // P(mel) on its own axis, with the middle half of its readings as a band and the flag threshold as a line.
  function drawMelanoma(data) {
    const canvas = document.getElementById("mel-chart");
    const mel = data.melanoma;
    if (!canvas || !mel) return;
    const highest = Math.max.apply(null, mel.values.concat(mel.high).filter(function (v) { return v !== null; }).concat([0]));
    const top = Math.min(100, Math.max(mel.threshold ? 2.5 * mel.threshold : 10, 1.2 * highest));
    const datasets = [
      { label: "Readings (middle half), high", data: points(data, mel.high), borderWidth: 0, pointRadius: 0, fill: false, spanGaps: true, borderColor: "rgba(213,94,0,0.25)" },
      { label: "Readings (middle half)", data: points(data, mel.low), borderWidth: 0, pointRadius: 0, fill: "-1", spanGaps: true, backgroundColor: "rgba(213,94,0,0.18)", borderColor: "rgba(213,94,0,0.25)" },
      { label: "P(mel)", data: points(data, mel.values), borderColor: "#D55E00", backgroundColor: "#D55E00", borderWidth: 3, pointRadius: 5, spanGaps: true },
    ];
    if (mel.threshold !== null) {
      const last = data.days[data.days.length - 1] || 1;
      datasets.push({ label: "Flag threshold " + mel.threshold.toFixed(1) + "%", data: [{ x: 0, y: mel.threshold }, { x: last, y: mel.threshold }], borderColor: "#000", borderDash: [6, 4], borderWidth: 2, pointRadius: 0 });
    }
    window.dermaMelanomaChart = new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: false,
        scales: { x: dayAxis(data), y: { min: 0, max: top, title: { display: true, text: "P(mel) (%)" }, ticks: { callback: function (v) { return v + "%"; } } } },
        plugins: {
          legend: { position: "bottom", labels: { filter: function (item) { return item.text.indexOf(", high") < 0; } } },
          tooltip: { callbacks: { label: function (ctx) { return ctx.dataset.label + ": " + (ctx.parsed.y === null ? "–" : ctx.parsed.y.toFixed(1) + "%"); } } },
        },
      },
    });
  }

  function drawTrend() {
    const canvas = document.getElementById("trend-chart");
    const source = document.getElementById("trend-data");
    if (!canvas || !source || typeof window.Chart === "undefined") return;
    const data = JSON.parse(source.textContent);
    drawMelanoma(data);
    const datasets = data.series.map(function (series) {
      const style = SERIES_STYLE[series.code] || { color: "#555", dash: [], point: "circle" };
      return {
        label: series.label,
        data: points(data, series.values),
        borderColor: style.color,
        backgroundColor: style.color,
        pointBorderColor: style.pointBorder || style.color,
        borderDash: style.dash,
        borderWidth: style.width || 2,
        pointStyle: style.point,
        pointRadius: style.radius || 4,
        pointHoverRadius: (style.radius || 4) + 2,
        spanGaps: true,
        order: series.code === "malignant" ? 0 : 1,
      };
    });
    // The outlined area on its own axis at the right: a grey dotted line with square points.
    const size = data.size;
    if (size) {
      datasets.push({
        label: size.label,
        data: points(data, size.values),
        yAxisID: "size",
        borderColor: "#6b6b6b",
        backgroundColor: "#6b6b6b",
        borderDash: [1, 3],
        borderWidth: 3,
        pointStyle: "rect",
        pointRadius: 5,
        pointHoverRadius: 7,
        spanGaps: true,
        order: 2,
      });
    }
    const scales = {
      y: { min: 0, max: 100, title: { display: true, text: "Probability (%)" }, ticks: { callback: function (v) { return v + "%"; } } },
      x: dayAxis(data),
    };
    if (size) {
      scales.size = { position: "right", beginAtZero: true, grid: { drawOnChartArea: false }, title: { display: true, text: "Lesion area (" + size.unit + ")" } };
    }
    const reduceMotion = window.matchMedia && window.matchMedia("(prefers-reduced-motion: reduce)").matches;
    window.dermaTrendChart = new window.Chart(canvas, {
      type: "line",
      data: { datasets: datasets },
      options: {
        responsive: true,
        maintainAspectRatio: false,
        animation: reduceMotion ? false : { duration: 300 },
        interaction: { mode: "index", intersect: false },
        scales: scales,
        plugins: {
          legend: { position: "bottom", labels: { usePointStyle: true, boxHeight: 8, padding: 14 } },
          tooltip: {
            callbacks: {
              label: function (ctx) {
                if (ctx.dataset.yAxisID === "size") {
                  return ctx.dataset.label + ": " + (ctx.parsed.y === null ? "not outlined" : ctx.parsed.y.toFixed(1) + " " + size.unit);
                }
                return ctx.dataset.label + ": " + (ctx.parsed.y === null ? "not analysed" : ctx.parsed.y.toFixed(1) + "%");
              },
            },
          },
        },
      },
    });
  }

  function bindCompare() {
    const grid = document.getElementById("compare-grid");
    if (!grid) return;
    const toggle = document.getElementById("heatmap-toggle");
    const blend = document.getElementById("heatmap-blend");
    if (toggle) {
      toggle.addEventListener("click", function () {
        const on = toggle.getAttribute("aria-pressed") !== "true";
        toggle.setAttribute("aria-pressed", String(on));
        toggle.textContent = on ? "Hide heatmaps" : "Show heatmaps";
        grid.dataset.heatmaps = on ? "on" : "off";
        if (blend) blend.disabled = !on;
      });
    }
    const outlines = document.getElementById("outline-toggle");
    if (outlines) {
      outlines.addEventListener("click", function () {
        const on = outlines.getAttribute("aria-pressed") !== "true";
        outlines.setAttribute("aria-pressed", String(on));
        outlines.textContent = on ? "Hide outlines" : "Show outlines";
        grid.dataset.outlines = on ? "on" : "off";
      });
    }
    if (blend) {
      blend.addEventListener("input", function () {
        grid.style.setProperty("--blend", String(blend.value / 100));
      });
    }
    // ← and → step visit B through the visits, unless the keys belong to a form control.
    document.addEventListener("keydown", function (event) {
      if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
      const target = event.target;
      if (target && (target.closest("input, select, textarea, [contenteditable]"))) return;
      const link = event.key === "ArrowLeft" ? document.getElementById("b-earlier")
        : event.key === "ArrowRight" ? document.getElementById("b-later") : null;
      if (link) { event.preventDefault(); link.click(); }
    });
  }

  // B aligned onto A: overlay (fade), swipe (a moving edge) or blink (A and B in turn), outlines on or off.
  function bindAligned() {
    const frame = document.getElementById("aligned-frame");
    if (!frame) return;
    const amount = document.getElementById("aligned-amount");
    let blinkTimer = null;
    function setMode(mode) {
      frame.dataset.mode = mode;
      if (blinkTimer) { window.clearInterval(blinkTimer); blinkTimer = null; frame.classList.remove("showing-a"); }
      if (amount) amount.disabled = mode === "blink";
      if (mode === "blink") {
        blinkTimer = window.setInterval(function () { frame.classList.toggle("showing-a"); }, 700);
      }
    }
    document.querySelectorAll('input[name="aligned-mode"]').forEach(function (radio) {
      radio.addEventListener("change", function () { if (radio.checked) setMode(radio.value); });
    });
    if (amount) {
      amount.addEventListener("input", function () { frame.style.setProperty("--amount", String(amount.value / 100)); });
    }
    const outlines = document.getElementById("aligned-outlines");
    if (outlines) {
      outlines.addEventListener("click", function () {
        const on = outlines.getAttribute("aria-pressed") !== "true";
        outlines.setAttribute("aria-pressed", String(on));
        outlines.textContent = on ? "Hide outlines" : "Show outlines";
        frame.dataset.outlines = on ? "on" : "off";
      });
    }
  }

  function bindPrint() {
    const button = document.getElementById("print-report");
    if (button) button.addEventListener("click", function () { window.print(); });
  }

  document.addEventListener("DOMContentLoaded", function () {
    drawTrend();
    bindCompare();
    bindAligned();
    bindPrint();
  });
})();
