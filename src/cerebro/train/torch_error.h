// How train/ reads torch's exceptions: the message without torch's C++ backtrace, and
// whether the exception means memory ran out (the seam reports that apart, as
// CEREBRO_ERR_OUT_OF_MEMORY). Pure functions; thread-safe.
#pragma once

#include <c10/util/Exception.h>

#include <string>

namespace cerebro::train {

inline std::string TorchMessage(const c10::Error& e) { return e.what_without_backtrace(); }

// c10::OutOfMemoryError is what newer allocators throw; LibTorch 1.13's CPU allocator
// throws a plain c10::Error, recognisable only by its text ("DefaultCPUAllocator: can't
// allocate memory: you tried to allocate N bytes", "... not enough memory ..." later).
inline bool IsOutOfMemory(const c10::Error& e) {
  if (dynamic_cast<const c10::OutOfMemoryError*>(&e) != nullptr) return true;
  const std::string& text = e.msg();
  return text.find("DefaultCPUAllocator: ") != std::string::npos &&
         (text.find("can't allocate memory") != std::string::npos ||
          text.find("not enough memory") != std::string::npos);
}

}  // namespace cerebro::train
