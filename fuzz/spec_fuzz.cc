// Fuzz target: spec::ParseSpecString on arbitrary bytes. A spec that parses must also
// survive ToJson(...).dump() (what the store writes) and round-trip, as spec.h promises.
#include <cstddef>
#include <cstdint>
#include <string>

#include "cerebro/spec/spec.h"
#include "fuzz_util.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace cerebro::spec;
  const std::string text(reinterpret_cast<const char*>(data), size);
  auto spec = ParseSpecString(text, "fuzz.yaml");
  if (!spec.ok()) {
    FUZZ_CHECK(!spec.status().message().empty());
    return 0;
  }
  const Json resolved = ToJson(*spec);
  const std::string dumped = resolved.dump();  // throws on invalid UTF-8
  auto again = ParseSpecString(dumped, "resolved");
  if (!again.ok()) {
    std::fprintf(stderr, "round trip failed: %s\n%s\n", again.status().ToString().c_str(),
                 dumped.c_str());
  }
  FUZZ_CHECK(again.ok());
  FUZZ_CHECK(ToJson(*again) == resolved);
  return 0;
}
