// The dashboard's two hourly bar charts (uPlot): transactions and flags, money in and out.
// A bar's height is a number, but every figure the reader sees (legend, labels) is the exact
// text app.js passes in with the data: amounts never go from a float back to the page.
// Clicking a bar picks its hour; both charts share one cursor and paint the picked hour.
"use strict";
const TxnCharts = (function () {
  const HOUR_S = 3600;
  const SYNC_KEY = "txn-hours";
  const PICKED = "rgba(255, 191, 71, 0.45)";
  const compact = new Intl.NumberFormat("en-US", { notation: "compact", maximumFractionDigits: 1 });

  function utcText(ts) { return new Date(ts * 1000).toISOString(); }  // ts: whole seconds

  function hourLabels(u, splits) {
    // "14:00", with the date above the first label of each day (times are UTC, as in the API)
    let lastDay = "";
    return splits.map((ts) => {
      const iso = utcText(ts);
      const day = iso.slice(5, 10);
      const label = (day !== lastDay ? day + "\n" : "") + iso.slice(11, 16);
      lastDay = day;
      return label;
    });
  }

  function height() { return window.innerWidth < 600 ? 200 : 240; }

  function width(target) {
    return Math.max(260, Math.floor(target.getBoundingClientRect().width || 560));
  }

  // One chart of bars over the hours. `series`: [{label, stroke, fill, size}], `yValues`: the
  // y axis' tick labels; `picked()`: the picked hour's x (seconds) or null; `onPick(index)`.
  function barChart(target, series, yValues, yRange, picked, onPick) {
    let texts = [];  // texts[s][i]: what the legend shows for series s at hour i
    const paint = (u) => {
      const x = picked();
      if (x === null || u.data[0].length === 0 || x < u.data[0][0] || x > u.data[0].at(-1)) return;
      const left = u.valToPos(x - HOUR_S / 2, "x", true);
      const right = u.valToPos(x + HOUR_S / 2, "x", true);
      u.ctx.save();
      u.ctx.fillStyle = PICKED;
      u.ctx.fillRect(left, u.bbox.top, Math.max(2, right - left), u.bbox.height);
      u.ctx.restore();
    };
    const options = {
      width: width(target), height: height(),
      cursor: { drag: { x: false, y: false }, sync: { key: SYNC_KEY }, points: { show: false }, y: false },
      scales: {
        x: { range: (u, min, max) => [min - HOUR_S / 2, max + HOUR_S / 2] },  // whole edge bars
        y: { range: yRange },
      },
      axes: [{ values: hourLabels, space: 60, size: 48 }, { size: 56, values: yValues }],
      hooks: { drawClear: [paint] },
      series: [
        { label: "Hour",
          value: (u, ts) => (ts == null ? "--" : utcText(ts).slice(0, 16).replace("T", " ") + " UTC") },
        ...series.map((s, i) => ({
          label: s.label, stroke: s.stroke, fill: s.fill, width: 1, points: { show: false },
          paths: uPlot.paths.bars({ size: s.size, align: 0 }),
          value: (u, v, seriesIdx, idx) => (idx == null || !texts[i] ? "--" : texts[i][idx]),
        })),
      ],
    };
    let plot = null;
    return {
      // xs: hour starts in seconds; columns: one array of bar heights per series; labels: one
      // array of texts per series, shown in the legend.
      set(xs, columns, labels) {
        texts = labels;
        const data = [xs, ...columns];
        if (plot) { plot.setData(data); return; }
        plot = new uPlot(options, data, target);
        plot.over.addEventListener("click", () => {
          if (plot.cursor.idx !== null && plot.cursor.idx !== undefined) onPick(plot.cursor.idx);
        });
      },
      redraw() { if (plot) plot.redraw(false); },
      resize() { if (plot) plot.setSize({ width: width(target), height: height() }); },
    };
  }

  function counts(target, picked, onPick) {
    return barChart(target, [
      { label: "Transactions", stroke: "#1f5fbf", fill: "rgba(31,95,191,0.55)", size: [0.9, 48] },
      { label: "Flagged", stroke: "#b3261e", fill: "rgba(179,38,30,0.85)", size: [0.5, 24] },
    ], undefined, (u, min, max) => [0, Math.max(1, Math.ceil(max * 1.1))], picked, onPick);
  }

  function money(target, picked, onPick) {
    // credits above the line, debits below it (drawn as negative heights, labelled as amounts)
    return barChart(target, [
      { label: "In", stroke: "#1e7b45", fill: "rgba(30,123,69,0.7)", size: [0.9, 48] },
      { label: "Out", stroke: "#8a4b00", fill: "rgba(138,75,0,0.7)", size: [0.9, 48] },
    ], (u, splits) => splits.map((v) => compact.format(Math.abs(v))),
    (u, min, max) => [Math.min(0, min * 1.1), Math.max(1, max * 1.1)], picked, onPick);
  }

  return Object.freeze({ counts, money, HOUR_S });
})();
