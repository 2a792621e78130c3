#include "cerebro/cli/report/report_html.h"

#include <cstdio>

namespace cerebro::cli {
namespace {

using store::Json;

// Draws the charts from the JSON in #report-data into the page's empty sections; one
// literal so the page stays one file. It sets #js-status to "ok" when every chart is
// drawn, or to the error, so a headless browser test can tell.
constexpr const char* kScript = R"JS(
(function () {
  const status = document.getElementById('js-status');
  window.addEventListener('error', e => { status.textContent = 'error: ' + e.message; });
  const D = JSON.parse(document.getElementById('report-data').textContent);
  const NS = 'http://www.w3.org/2000/svg';
  const color = id => 'hsl(' + ((id * 137.508) % 360).toFixed(1) + ',65%,45%)';
  function el(tag, attrs, parent, text) {
    const e = document.createElementNS(NS, tag);
    for (const k in attrs) e.setAttribute(k, attrs[k]);
    if (text !== undefined) e.textContent = text;
    if (parent) parent.appendChild(e);
    return e;
  }
  function svg(parent, w, h) { return el('svg', {width: w, height: h, viewBox: '0 0 ' + w + ' ' + h}, parent); }
  function scale(lo, hi, a, b) {
    if (!(hi > lo)) { lo -= 0.5; hi += 0.5; }
    return v => a + (v - lo) / (hi - lo) * (b - a);
  }
  function fmt(v) { return Math.abs(v) >= 1000 || (v !== 0 && Math.abs(v) < 0.01) ? v.toExponential(2) : (+v.toFixed(4)).toString(); }
  function axisLeft(g, x, y0, y1, lo, hi, ticks) {
    el('line', {x1: x, x2: x, y1: y0, y2: y1, class: 'axis'}, g);
    for (let i = 0; i <= ticks; i++) {
      const v = lo + (hi - lo) * i / ticks, y = y0 + (y1 - y0) * i / ticks;
      el('text', {x: x - 4, y: y + 3, 'text-anchor': 'end', class: 'tick'}, g, fmt(v));
      el('line', {x1: x, x2: x - 3, y1: y, y2: y, class: 'axis'}, g);
    }
  }
  const hidden = new Set();
  const show = {train: true, val: true};

  // Learning curves: one chart per quantity, a line per model, train dashed.
  function drawCurves() {
    const root = document.getElementById('curves');
    root.querySelectorAll('svg').forEach(s => s.remove());
    const charts = [['accuracy', 'train_accuracy', 'val_accuracy'], ['loss', 'train_loss', 'val_loss']];
    for (const [name, tk, vk] of charts) {
      const W = 640, H = 300, L = 60, R = 10, T = 24, B = 36;
      const s = svg(root, W, H);
      el('text', {x: L, y: 16, class: 'title'}, s, name + ' per epoch');
      let lo = Infinity, hi = -Infinity, maxE = 1;
      for (const m of D.models) for (const r of m.history) {
        for (const k of [tk, vk]) { lo = Math.min(lo, r[k]); hi = Math.max(hi, r[k]); }
        maxE = Math.max(maxE, r.epoch);
      }
      if (lo === Infinity) { lo = 0; hi = 1; }
      const x = scale(maxE > 1 ? 1 : 0.5, maxE > 1 ? maxE : 1.5, L, W - R), y = scale(lo, hi, H - B, T);
      axisLeft(s, L, H - B, T, lo, hi, 4);
      el('line', {x1: L, x2: W - R, y1: H - B, y2: H - B, class: 'axis'}, s);
      for (let e = 1; e <= maxE; e++) el('text', {x: x(e), y: H - B + 14, 'text-anchor': 'middle', class: 'tick'}, s, e);
      el('text', {x: (L + W) / 2, y: H - 4, 'text-anchor': 'middle', class: 'tick'}, s, 'epoch');
      for (const m of D.models) {
        if (hidden.has(m.id) || !m.history.length) continue;
        for (const [k, on, dash] of [[tk, show.train, '5,4'], [vk, show.val, '']]) {
          if (!on) continue;
          const pts = m.history.map(r => x(r.epoch).toFixed(1) + ',' + y(r[k]).toFixed(1)).join(' ');
          const g = el('g', {class: 'series'}, s);
          el('title', {}, g, 'model ' + m.id + ' ' + k);
          el('polyline', {points: pts, fill: 'none', stroke: color(m.id), 'stroke-width': 2, 'stroke-dasharray': dash}, g);
          for (const r of m.history) el('circle', {cx: x(r.epoch), cy: y(r[k]), r: 3, fill: color(m.id)}, g);
        }
      }
    }
  }
  function legend() {
    const root = document.getElementById('legend');
    for (const m of D.models) {
      const b = document.createElement('button');
      b.className = 'chip';
      b.style.borderColor = color(m.id);
      b.innerHTML = '<span class="sw" style="background:' + color(m.id) + '"></span>model ' + m.id;
      b.onclick = () => { hidden.has(m.id) ? hidden.delete(m.id) : hidden.add(m.id); b.classList.toggle('off'); drawCurves(); };
      root.appendChild(b);
    }
    for (const k of ['train', 'val']) {
      document.getElementById('show-' + k).onchange = e => { show[k] = e.target.checked; drawCurves(); };
    }
  }

  // Parallel coordinates: an axis per hyperparameter that varies, then the metric.
  function drawParallel() {
    const root = document.getElementById('parallel');
    const ranked = D.models.filter(m => m.metric !== null);
    let keys = [];
    for (const m of D.models) for (const k in m.params) if (!keys.includes(k)) keys.push(k);
    const varies = keys.filter(k => new Set(D.models.map(m => JSON.stringify(m.params[k]))).size > 1);
    keys = varies.length ? varies : keys;
    const axes = keys.map(k => {
      const vals = D.models.map(m => m.params[k]).filter(v => v !== undefined);
      const numeric = vals.every(v => typeof v === 'number');
      if (numeric) {
        const pos = vals.every(v => v > 0), lo = Math.min(...vals), hi = Math.max(...vals);
        const log = pos && hi / lo >= 100;
        const f = log ? Math.log10 : (v => v);
        return {name: k, pos: v => f(v), lo: f(lo), hi: f(hi), label: v => fmt(log ? Math.pow(10, v) : v), ticks: log ? 0 : 2, cats: null};
      }
      const cats = [...new Set(vals.map(v => JSON.stringify(v)))].sort();
      return {name: k, pos: v => cats.indexOf(JSON.stringify(v)), lo: 0, hi: Math.max(1, cats.length - 1), cats: cats};
    });
    const mv = ranked.map(m => m.metric);
    axes.push({name: 'val ' + D.metric, pos: v => v, lo: Math.min(...mv, Infinity), hi: Math.max(...mv, -Infinity), label: fmt, ticks: 4, cats: null, metric: true});
    const W = Math.max(500, 150 * axes.length), H = 320, T = 30, B = 30, L = 70, R = 70;
    const s = svg(root, W, H);
    const ax = i => L + (W - L - R) * (axes.length > 1 ? i / (axes.length - 1) : 0.5);
    axes.forEach((a, i) => {
      if (!isFinite(a.lo)) { a.lo = 0; a.hi = 1; }
      a.y = scale(a.lo, a.hi, H - B, T);
      el('line', {x1: ax(i), x2: ax(i), y1: T, y2: H - B, class: 'axis'}, s);
      el('text', {x: ax(i), y: T - 12, 'text-anchor': 'middle', class: 'axname'}, s, a.name);
      const marks = a.cats ? a.cats.map((c, j) => [j, c.replace(/^"|"$/g, '')])
                           : D.models.map(m => a.metric ? m.metric : m.params[a.name]).filter(v => v !== undefined && v !== null).map(v => [a.pos(v), fmt(v)]);
      for (const [p, t] of marks) el('text', {x: ax(i) + 5, y: a.y(p) + 3, class: 'tick'}, s, t);
    });
    const cm = scale(Math.min(...mv, 0), Math.max(...mv, 1), 0, 1);
    for (const m of D.models) {
      const pts = [];
      axes.forEach((a, i) => {
        const v = a.metric ? m.metric : m.params[a.name];
        if (v !== undefined && v !== null) pts.push(ax(i).toFixed(1) + ',' + a.y(a.pos(v)).toFixed(1));
      });
      const g = el('g', {class: 'series'}, s);
      el('title', {}, g, 'model ' + m.id + ' ' + JSON.stringify(m.params) + (m.metric !== null ? ' → ' + fmt(m.metric) : ' (' + m.status + ')'));
      el('polyline', {points: pts.join(' '), fill: 'none', stroke: m.metric === null ? '#bbb' : color(m.id), 'stroke-width': 2.5,
                      'stroke-dasharray': m.metric === null ? '3,3' : ''}, g);
    }
  }

  // Gantt: a row per worker, a bar per unit from submission to result, coloured by model;
  // evaluation units are paler. Gaps are idle time.
  function drawGantt() {
    const root = document.getElementById('gantt');
    const us = D.units.filter(u => u.end > 0);
    if (!us.length) { root.appendChild(document.createTextNode('No unit timings in this run\u2019s journal.')); return; }
    const t0 = Math.min(...us.map(u => u.start)), t1 = Math.max(...us.map(u => u.end));
    const workers = [...new Set(us.map(u => u.worker))].sort((a, b) => a - b);
    const W = 1280, L = 80, R = 20, T = 10, row = 34, B = 34, H = T + row * workers.length + B;
    const s = svg(root, W, H);
    const x = scale(0, t1 - t0, L, W - R);
    workers.forEach((w, i) => {
      el('text', {x: L - 8, y: T + row * i + row / 2 + 4, 'text-anchor': 'end', class: 'tick'}, s, 'worker ' + w);
      el('rect', {x: L, y: T + row * i + 3, width: W - L - R, height: row - 6, class: 'lane'}, s);
    });
    for (const u of us) {
      const i = workers.indexOf(u.worker);
      const g = el('g', {}, s);
      el('title', {}, g, 'model ' + u.model + ' ' + u.kind + ' epoch ' + (u.epoch + 1) + ' partition ' + u.partition +
         ': ' + (u.end - u.start).toFixed(2) + ' s');
      el('rect', {x: x(u.start - t0), y: T + row * i + 4, width: Math.max(1, x(u.end - t0) - x(u.start - t0)), height: row - 8,
                  fill: color(u.model), opacity: u.kind === 'eval' ? 0.45 : 0.95, class: 'unit'}, g);
      if (x(u.end - t0) - x(u.start - t0) > 26) {
        el('text', {x: x(u.start - t0) + 3, y: T + row * i + row / 2 + 4, class: 'ulabel'}, g, 'm' + u.model + (u.kind === 'eval' ? 'e' : ''));
      }
    }
    const y = T + row * workers.length;
    el('line', {x1: L, x2: W - R, y1: y, y2: y, class: 'axis'}, s);
    const digits = t1 - t0 < 1 ? 3 : t1 - t0 < 10 ? 2 : t1 - t0 < 100 ? 1 : 0;
    for (let k = 0; k <= 8; k++) {
      const t = (t1 - t0) * k / 8;
      el('text', {x: x(t), y: y + 14, 'text-anchor': 'middle', class: 'tick'}, s, t.toFixed(digits) + ' s');
    }
  }

  drawCurves(); legend(); drawParallel(); drawGantt();
  if (status.textContent === 'rendering') status.textContent = 'ok';
})();
)JS";

constexpr const char* kStyle = R"CSS(
body { font: 14px/1.4 system-ui, sans-serif; margin: 24px 32px; color: #222; max-width: 1360px; }
h1 { margin: 0 0 4px; } h2 { margin: 28px 0 8px; border-bottom: 1px solid #ddd; }
.meta { color: #555; } .best { font-size: 18px; margin: 10px 0; }
table { border-collapse: collapse; } th, td { padding: 3px 10px; border-bottom: 1px solid #eee; text-align: left; }
th { background: #f4f4f4; } td.params { word-break: break-all; font-size: 12px; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
tr.failed td { color: #a33; } tr.stopped td { color: #886; }
.axis { stroke: #888; } .tick { font-size: 11px; fill: #444; } .title, .axname { font-size: 13px; font-weight: 600; }
.lane { fill: #f6f6f6; } .ulabel { font-size: 10px; fill: #fff; pointer-events: none; }
.chip { border: 2px solid; background: #fff; border-radius: 12px; margin: 2px; padding: 1px 8px; cursor: pointer; }
.chip.off { opacity: 0.35; } .sw { display: inline-block; width: 10px; height: 10px; margin-right: 4px; border-radius: 5px; }
.series:hover polyline { stroke-width: 4; } #js-status { color: #aaa; font-size: 11px; }
)CSS";

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string Num(double v, const char* format = "%.4f") { return FormatNumber(v, format); }

std::string Header(const ReportData& d) {
  const store::Summary& s = d.summary;
  std::string out = "<h1>" + Escape(s.name.empty() ? "Cerebro run" : s.name) + "</h1>\n";
  out += "<div class=\"meta\">" + Escape(d.run_dir) + " · " + Escape(DescribeRun(s)) +
         (s.finished ? "" : " · <b>not finished</b>") + "</div>\n";
  if (s.best_model >= 0) {
    out += "<div class=\"best\" id=\"best\">best: model <b>" + std::to_string(s.best_model) +
           "</b>, " + Escape(MetricCaption(s.metric)) + " <b>" + Num(s.best_value) + "</b></div>\n";
  } else {
    out += "<div class=\"best\" id=\"best\">no model finished an epoch</div>\n";
  }
  if (!DescribeFront(s).empty()) {
    out += "<div class=\"best\" id=\"pareto\">" + Escape(DescribeFront(s)) + "</div>\n";
  }
  return out;
}

std::string RankedTable(const store::Summary& s) {
  std::string out = "<h2>Ranked models</h2>\n<table id=\"ranked\"><tr><th>rank</th><th>model</th>"
                    "<th>status</th><th>" + Escape(MetricCaption(s.metric)) +
                    "</th><th>val loss</th><th>train acc</th><th>epochs</th><th>params</th></tr>\n";
  for (const store::ModelOutcome& m : s.models) {
    const std::string status(EnumName(m.status));
    out += "<tr class=\"" + status + "\"><td>" + std::to_string(m.rank) + "</td><td>" +
           std::to_string(m.id) + "</td><td>" + status + "</td>";
    if (HasMetrics(m)) {
      const store::EpochRow& last = m.history.back();
      out += "<td class=\"num\">" + Num(MetricOf(s, m, last)) + "</td><td class=\"num\">" +
             Num(last.val_loss) + "</td><td class=\"num\">" + Num(last.train_accuracy) + "</td>";
    } else {
      out += "<td>-</td><td>-</td><td>-</td>";
    }
    out += "<td class=\"num\">" + std::to_string(m.history.size()) + "</td><td class=\"params\"><code>" +
           Escape(m.params.dump()) + "</code></td></tr>\n";
  }
  return out + "</table>\n";
}

// Failed and stopped models with their reasons, and workers lost on the way.
std::string EndedModels(const ReportData& d) {
  std::string items;
  for (const store::ModelOutcome& m : d.summary.models) {
    if (EndedEarly(m)) items += "<li>" + Escape(DescribeEnded(m)) + "</li>\n";
  }
  for (const store::WorkerLost& w : d.workers_lost) {
    items += "<li>" + Escape(DescribeLost(w)) + "</li>\n";
  }
  if (items.empty()) items = "<li>none: every model completed</li>\n";
  return "<h2>Failed and stopped</h2>\n<ul id=\"ended\">\n" + items + "</ul>\n";
}

std::string Decisions(const std::vector<store::ProcedureDecision>& decisions) {
  std::string items;
  for (const store::ProcedureDecision& d : decisions) {
    std::string actions;
    for (const store::Action& a : d.actions) {
      if (IsReported(d, a)) actions += "<li>" + Escape(DescribeAction(a)) + "</li>";
    }
    if (actions.empty()) continue;
    items += "<li>after " + std::to_string(d.epochs_seen) + " model-epochs:<ul>" + actions +
             "</ul></li>\n";
  }
  if (items.empty()) return "";
  return "<h2>Procedure decisions</h2>\n<ul id=\"decisions\">\n" + items + "</ul>\n";
}

// The data the script draws from. Times are Unix seconds, epochs 1-based in histories
// and 0-based in units (as journaled).
Json ChartData(const ReportData& d) {
  Json models = Json::array();
  for (const store::ModelOutcome& m : d.summary.models) {
    Json history = Json::array();
    for (const store::EpochRow& r : m.history) {
      history.push_back({{"epoch", r.epoch},
                         {"train_loss", r.train_loss},
                         {"train_accuracy", r.train_accuracy},
                         {"val_loss", r.val_loss},
                         {"val_accuracy", r.val_accuracy}});
    }
    models.push_back({{"id", m.id},
                      {"status", EnumName(m.status)},
                      {"params", m.params},
                      {"parent", m.parent},
                      {"metric", HasMetrics(m) ? Json(MetricOf(d.summary, m, m.history.back()))
                                               : Json(nullptr)},
                      {"history", std::move(history)}});
  }
  Json units = Json::array();
  for (const store::UnitDone& u : d.units) {
    units.push_back({{"model", u.model},
                     {"kind", EnumName(u.kind)},
                     {"worker", u.worker},
                     {"partition", u.partition},
                     {"epoch", u.epoch},
                     {"start", u.submitted_at},
                     {"end", u.finished_at}});
  }
  return {{"metric", d.summary.metric}, {"models", std::move(models)}, {"units", std::move(units)}};
}

// JSON safe inside <script>: "</" cannot close the element when written "<\/".
std::string ScriptSafe(const Json& j) {
  std::string text = j.dump(-1, ' ', false, Json::error_handler_t::replace);
  std::string out;
  for (size_t i = 0; i < text.size(); ++i) {
    out += text[i];
    if (text[i] == '<' && i + 1 < text.size() && text[i + 1] == '/') out += '\\';
  }
  return out;
}

std::string Charts() {
  return "<h2>Learning curves</h2>\n<div id=\"curves\"><div>"
         "<label><input type=\"checkbox\" id=\"show-train\" checked> train (dashed)</label> "
         "<label><input type=\"checkbox\" id=\"show-val\" checked> validation (solid)</label> "
         "<span id=\"legend\"></span></div></div>\n"
         "<h2>Hyperparameters against the metric</h2>\n<div id=\"parallel\"></div>\n"
         "<h2>Units per worker over time</h2>\n<div id=\"gantt\"></div>\n"
         "<div class=\"meta\">Bars run from a unit's submission to its result; colour is the "
         "model (paler: evaluation); gaps are idle time.</div>\n";
}

}  // namespace

std::string RenderHtmlReport(const ReportData& d) {
  std::string out = "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>" +
                    Escape(d.summary.name.empty() ? "Cerebro report" : d.summary.name) +
                    "</title>\n<style>" + kStyle + "</style></head><body>\n";
  out += Header(d) + RankedTable(d.summary) + Charts() + EndedModels(d) + Decisions(d.decisions);
  out += "<div id=\"js-status\">rendering</div>\n";
  out += "<script type=\"application/json\" id=\"report-data\">" + ScriptSafe(ChartData(d)) +
         "</script>\n<script>" + kScript + "</script>\n</body></html>\n";
  return out;
}

}  // namespace cerebro::cli
