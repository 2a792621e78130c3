// `cerebro report --format html`: one self-contained HTML page of a run (inline CSS, JS
// and SVG; opens offline): ranked table, learning curves, parallel coordinates of the
// hyperparameters against the metric, a per-worker Gantt of units, ended models and
// procedure decisions. Pure; thread-safe.
#pragma once

#include <string>

#include "cerebro/cli/report/report_data.h"

namespace cerebro::cli {

std::string RenderHtmlReport(const ReportData& data);

}  // namespace cerebro::cli
