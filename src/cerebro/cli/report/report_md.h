// `cerebro report --format md`: the report as Markdown for terminals and issues: ranked
// table, per-epoch validation metric of every model, per-worker activity, ended models
// and procedure decisions. Pure; thread-safe.
#pragma once

#include <string>

#include "cerebro/cli/report/report_data.h"

namespace cerebro::cli {

std::string RenderMarkdownReport(const ReportData& data);

}  // namespace cerebro::cli
