// Charts of the back office: a <div data-chart='{"days": [...], "faults": [...]}'> becomes a uPlot bar chart.
// No inline script anywhere (CSP script-src 'self'): the data travels in the attribute.
"use strict";
document.addEventListener("DOMContentLoaded", function () {
  document.querySelectorAll("[data-chart]").forEach(function (el) {
    var data = JSON.parse(el.getAttribute("data-chart"));
    if (!data.days.length) { el.textContent = "No faults in the ranked stations."; return; }
    var xs = data.days.map(function (d) { return Date.parse(d + "T00:00:00Z") / 1000; });
    var width = Math.max(320, Math.min(el.clientWidth || 900, 1100));
    new uPlot({
      width: width, height: 260,
      scales: { x: { time: true } },
      axes: [{}, { label: "faults" }],
      series: [{}, { label: "faults per day", stroke: "#b3261e", fill: "rgba(179,38,30,0.25)",
                     paths: uPlot.paths.bars({ size: [0.8, 40] }) }],
    }, [xs, data.faults], el);
  });
});
