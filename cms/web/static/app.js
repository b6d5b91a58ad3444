// Dashboard behaviour: htmx settings, confirmations and charts drawn from JSON embedded next to each <canvas data-chart>.
(function () {
  "use strict";

  // Show error answers (422, 409, 502, 504 ...) in their target instead of dropping them: a command's
  // failure is an answer the owner wants to read.
  document.addEventListener("htmx:beforeSwap", function (e) {
    if (e.detail.xhr.status >= 400) {
      e.detail.shouldSwap = true;
      e.detail.isError = false;
    }
  });

  // A form with data-confirm="question" asks before it is sent (no inline handlers: the page's
  // Content-Security-Policy allows scripts from files only).
  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) {
      e.preventDefault();
    }
  });

  var charts = new WeakMap();
  var palette = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04", "#4b5563"];

  function timeLabel(ms) {
    var d = new Date(ms);
    return d.toISOString().slice(11, 16);
  }

  function meterChart(canvas, data) {
    return new Chart(canvas, {
      type: "line",
      data: {
        datasets: [
          {label: "Energy (kWh)", yAxisID: "energy", borderColor: palette[0], backgroundColor: palette[0],
           pointRadius: 2, data: data.energy.map(function (p) { return {x: p[0], y: p[1] / 1000}; })},
          {label: "Power (kW)", yAxisID: "power", borderColor: palette[2], backgroundColor: palette[2],
           pointRadius: 2, stepped: true, data: data.power.map(function (p) { return {x: p[0], y: p[1] / 1000}; })}
        ]
      },
      options: {
        animation: false, parsing: false, responsive: true, maintainAspectRatio: false,
        scales: {
          x: {type: "linear", title: {display: true, text: "time (UTC)"},
              ticks: {callback: function (v) { return timeLabel(v); }}},
          energy: {type: "linear", position: "left", beginAtZero: true, title: {display: true, text: "kWh"}},
          power: {type: "linear", position: "right", beginAtZero: true, title: {display: true, text: "kW"},
                  grid: {drawOnChartArea: false}}
        },
        plugins: {tooltip: {callbacks: {title: function (items) {
          return items.length ? new Date(items[0].parsed.x).toISOString().replace("T", " ").slice(0, 19) : "";
        }}}}
      }
    });
  }

  function consumptionChart(canvas, data) {
    return new Chart(canvas, {
      type: "bar",
      data: {
        labels: data.labels,
        datasets: data.series.map(function (s, i) {
          return {label: s.name, data: s.kwh, backgroundColor: palette[i % palette.length]};
        })
      },
      options: {
        animation: false, responsive: true, maintainAspectRatio: false,
        scales: {x: {stacked: true}, y: {stacked: true, beginAtZero: true, title: {display: true, text: "kWh"}}}
      }
    });
  }

  // A station's drawn current (its most loaded phase) over time, with its limit as a dashed line.
  function siteCurrentChart(canvas, data) {
    var points = data.t.map(function (t, i) { return {x: t, y: data.siteA[i]}; });
    var datasets = [{label: "Drawn (A per phase)", borderColor: palette[0], backgroundColor: palette[0],
                     pointRadius: 0, stepped: true, data: points}];
    if (data.limitA !== null && data.t.length) {
      datasets.push({label: "Limit", borderColor: palette[5], backgroundColor: palette[5], borderDash: [6, 4],
                     pointRadius: 0, data: [{x: data.t[0], y: data.limitA}, {x: data.t[data.t.length - 1], y: data.limitA}]});
    }
    return new Chart(canvas, {
      type: "line",
      data: {datasets: datasets},
      options: {
        animation: false, parsing: false, responsive: true, maintainAspectRatio: false,
        scales: {
          x: {type: "linear", title: {display: true, text: "time (UTC)"},
              ticks: {callback: function (v) { return timeLabel(v); }}},
          y: {beginAtZero: true, title: {display: true, text: "A"}}
        }
      }
    });
  }

  var chartKinds = {meter: meterChart, consumption: consumptionChart, "site-current": siteCurrentChart};

  function drawCharts(root) {
    if (typeof Chart === "undefined") { return; }
    (root || document).querySelectorAll("canvas[data-chart]").forEach(function (canvas) {
      if (charts.has(canvas)) { return; }
      var source = document.getElementById(canvas.id + "-data");
      if (!source) { return; }
      var data = JSON.parse(source.textContent);
      var chart = (chartKinds[canvas.dataset.chart] || consumptionChart)(canvas, data);
      charts.set(canvas, chart);
      canvas.dataset.drawn = "true";
    });
  }

  document.addEventListener("DOMContentLoaded", function () { drawCharts(document); });
  document.addEventListener("htmx:afterSettle", function (e) { drawCharts(e.target); });
})();
