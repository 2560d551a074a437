// libFuzzer target for the northbound spec parser (src/controller/nb_spec.h): any input either
// parses (and then converts to rows and runs through the logical stage without error) or fails
// with a message naming the file. Seeds: fuzz/corpus/nb_spec/.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "controller/logical_stage.h"
#include "controller/nb_spec.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size > 16384) return 0;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto spec = rampart::controller::ParseNbSpec(text, "fuzz.yaml");
  if (!spec.ok()) {
    if (spec.status().message().substr(0, 9) != "fuzz.yaml") std::abort();
    return 0;
  }
  static auto stage = rampart::controller::LogicalStage::Create();
  if (!stage.ok()) std::abort();
  // A validated spec must always be accepted by the engine (keys hold, types match).
  auto d = (*stage)->SetSpec(*spec);
  if (!d.ok()) std::abort();
  return 0;
}
