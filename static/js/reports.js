// The report page's chart: drawn from the JSON the page embeds (json_script), no inline script.
(function () {
  "use strict";
  var AXES = { count: "y", percent: "yPercent", seconds: "ySeconds", ratio: "yRatio", money: "yMoney" };
  var COLOURS = ["#2563eb", "#16a34a", "#dc2626", "#d97706", "#7c3aed", "#0891b2", "#db2777", "#4b5563"];

  function draw() {
    var source = document.getElementById("report-chart");
    var canvas = document.getElementById("report-chart-canvas");
    if (!source || !canvas || typeof window.Chart === "undefined") { return; }
    var chart = JSON.parse(source.textContent);
    var used = {};
    var datasets = chart.datasets.map(function (set, i) {
      var axis = AXES[set.unit] || "y";
      used[axis] = set.unit;
      return {
        label: set.label,
        data: set.data,
        yAxisID: axis,
        // Counts as bars, rates and durations as lines over them.
        type: set.unit === "count" ? "bar" : "line",
        backgroundColor: COLOURS[i % COLOURS.length],
        borderColor: COLOURS[i % COLOURS.length],
        spanGaps: true
      };
    });
    var scales = {};
    Object.keys(used).forEach(function (axis, i) {
      scales[axis] = {
        position: i === 0 ? "left" : "right",
        beginAtZero: true,
        grid: { drawOnChartArea: i === 0 },
        title: { display: true, text: (chart.units || {})[used[axis]] || used[axis] }
      };
      if (used[axis] === "percent") { scales[axis].max = 100; }
      if (used[axis] === "count") { scales[axis].ticks = { precision: 0 }; }
    });
    new window.Chart(canvas, {
      type: "bar",
      data: { labels: chart.labels, datasets: datasets },
      options: { responsive: true, maintainAspectRatio: false, animation: false, scales: scales,
                 interaction: { mode: "index", intersect: false } }
    });
  }

  // Period presets: the dates only matter for "Dates below".
  function toggleDates() {
    var period = document.getElementById("id_period");
    var dates = document.querySelector(".report-filters .dates");
    if (!period || !dates) { return; }
    dates.hidden = period.value !== "custom" && period.value !== "";
  }

  document.addEventListener("DOMContentLoaded", function () {
    draw();
    toggleDates();
    var period = document.getElementById("id_period");
    if (period) { period.addEventListener("change", toggleDates); }
  });
})();
