#include "cerebro/train/state_codec.h"

#include <new>
#include <string>
#include <utility>
#include <vector>

#include "cerebro/train/optimizer_state.h"
#include "cerebro/train/state_header.h"
#include "cerebro/train/torch_error.h"

namespace cerebro::train {
namespace {

std::string ShapeString(c10::IntArrayRef sizes) {
  std::string s = "[";
  for (size_t i = 0; i < sizes.size(); ++i) s += (i ? ", " : "") + std::to_string(sizes[i]);
  return s + "]";
}

using Shapes = std::vector<std::vector<int64_t>>;

// The shapes of the module's parameters, then of its buffers.
Shapes ShapesOf(const torch::nn::Module& module) {
  Shapes shapes;
  for (const auto& p : module.parameters()) shapes.push_back(p.sizes().vec());
  for (const auto& b : module.buffers()) shapes.push_back(b.sizes().vec());
  return shapes;
}

// Reads the "model" archive into `net`. Module::load replaces each tensor's storage
// without comparing shapes, so a state from a different architecture with the same
// layer names would load silently: the shapes are compared afterwards.
Status LoadModel(torch::serialize::InputArchive& archive, const model::Net& net) {
  const Shapes expected = ShapesOf(*net.module);
  torch::serialize::InputArchive model_archive;
  archive.read("model", model_archive);
  net.module->load(model_archive);
  size_t i = 0;
  for (const auto& item : net.module->named_parameters()) {
    if (item.value().sizes().vec() != expected[i]) {
      return DataLoss("model state: parameter '" + item.key() + "' has shape " +
                      ShapeString(item.value().sizes()) + ", the model expects " +
                      ShapeString(expected[i]));
    }
    ++i;
  }
  for (const auto& item : net.module->named_buffers()) {
    if (item.value().sizes().vec() != expected[i]) {
      return DataLoss("model state: buffer '" + item.key() + "' has the wrong shape");
    }
    ++i;
  }
  return Status::Ok();
}

Status LoadArchive(const uint8_t* state, size_t size, const model::Net& net,
                   torch::optim::Optimizer* optimizer, model::OptimizerKind kind) {
  torch::serialize::InputArchive archive;
  archive.load_from(reinterpret_cast<const char*>(state) + kStateHeaderSize,
                    size - kStateHeaderSize);
  RETURN_IF_ERROR(LoadModel(archive, net));
  if (optimizer == nullptr) return Status::Ok();
  torch::Tensor saved_kind;
  archive.read("optimizer_kind", saved_kind);
  // A config whose optimizer changed between units (a search may mutate it) starts that
  // optimizer afresh on the trained weights rather than failing.
  if (saved_kind.item<int64_t>() != static_cast<int64_t>(kind)) return Status::Ok();
  torch::serialize::InputArchive optimizer_archive;
  archive.read("optimizer", optimizer_archive);
  LoadOptimizerState(optimizer_archive, kind, *optimizer);
  return Status::Ok();
}

}  // namespace

MallocBuffer EncodeState(const model::Net& net, torch::optim::Optimizer& optimizer,
                         model::OptimizerKind kind) {
  size_t param_bytes = 0;
  for (const auto& p : net.module->parameters()) param_bytes += p.nbytes();
  for (const auto& b : net.module->buffers()) param_bytes += b.nbytes();
  MallocBuffer out;
  // Adam keeps two moments per parameter; reserving up front avoids regrowing (and
  // copying) a multi-megabyte buffer while torch streams the archive out.
  out.Reserve(kStateHeaderSize + 3 * param_bytes + (64 << 10));
  BeginStateHeader(&out);

  torch::serialize::OutputArchive archive;
  torch::serialize::OutputArchive model_archive(archive.compilation_unit());
  net.module->save(model_archive);
  archive.write("model", model_archive);
  torch::serialize::OutputArchive optimizer_archive(archive.compilation_unit());
  SaveOptimizerState(optimizer, kind, optimizer_archive);
  archive.write("optimizer", optimizer_archive);
  archive.write("optimizer_kind", torch::tensor(static_cast<int64_t>(kind)));
  archive.save_to([&out](const void* bytes, size_t n) -> size_t {
    out.Append(bytes, n);
    return n;
  });
  SealStateHeader(&out);
  return out;
}

Status DecodeState(const uint8_t* state, size_t size, const model::Net& net,
                   torch::optim::Optimizer* optimizer, model::OptimizerKind kind, bool verified) {
  RETURN_IF_ERROR(CheckStateHeader(state, size, /*checksum=*/!verified));
  try {
    return LoadArchive(state, size, net, optimizer, kind);
  } catch (const c10::Error& e) {
    if (IsOutOfMemory(e)) throw;
    return DataLoss("model state: " + TorchMessage(e));
  } catch (const std::bad_alloc&) {
    throw;  // not the bytes' fault: the seam reports it as out of memory
  } catch (const std::exception& e) {
    return DataLoss(std::string("model state: ") + e.what());
  }
}

}  // namespace cerebro::train
