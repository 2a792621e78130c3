// Test helper: TorchScript files written from C++, without Python (a torch::jit::Module
// with parameters, a buffer and a TorchScript forward, saved as Python's
// torch.jit.script(...).save(...) would). For tests only; stateless.
#pragma once

#include <torch/script.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>

namespace cerebro::model::testing {

// A script module as Python makes one: with its `training` flag.
inline torch::jit::Module ScriptModule(const std::string& type) {
  torch::jit::Module m(type);
  m.register_attribute("training", c10::BoolType::get(), true);
  return m;
}

// A linear layer as a script module of its own: weight [out, in], bias [out].
inline torch::jit::Module Linear(const std::string& type, int64_t in, int64_t out) {
  torch::jit::Module m = ScriptModule(type);
  m.register_parameter("weight", torch::randn({out, in}).mul_(0.1).requires_grad_(), false);
  m.register_parameter("bias", torch::zeros({out}).requires_grad_(), false);
  m.define(R"(
    def forward(self, x):
        return torch.matmul(x, self.weight.t()) + self.bias
  )");
  return m;
}

// Flatten -> fc (in -> hidden) -> relu -> dropout 0.1 -> out (hidden -> classes), with a buffer
// `calls` that forward counts in (in place, as batch norm's statistics are updated).
inline void WriteMlp(const std::string& path, int64_t in, int64_t hidden, int64_t classes) {
  torch::manual_seed(1);
  torch::jit::Module m = ScriptModule("Mlp");
  m.register_module("fc", Linear("Fc", in, hidden));
  m.register_module("out", Linear("Out", hidden, classes));
  m.register_buffer("calls", torch::zeros({1}));
  m.define(R"(
    def forward(self, x):
        if self.training:
            self.calls.add_(1.0)
        h = torch.relu(self.fc.forward(x.flatten(1)))
        h = torch.dropout(h, 0.1, self.training)
        return self.out.forward(h)
  )");
  m.save(path);
}

}  // namespace cerebro::model::testing
