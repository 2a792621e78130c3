// MallocBuffer: a growable byte buffer in malloc'ed memory, so that its bytes can pass
// through the C seam (worker_api.h) and be released by the caller with free(). It owns
// its bytes until Release(). Thread-compatible. Torch-free.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <utility>

namespace cerebro::train {

class MallocBuffer {
 public:
  MallocBuffer() = default;
  MallocBuffer(MallocBuffer&& other) noexcept { *this = std::move(other); }
  MallocBuffer& operator=(MallocBuffer&& other) noexcept;
  MallocBuffer(const MallocBuffer&) = delete;
  MallocBuffer& operator=(const MallocBuffer&) = delete;
  ~MallocBuffer() { std::free(data_); }

  void Reserve(size_t capacity);             // throws std::bad_alloc
  void Append(const void* bytes, size_t n);  // throws std::bad_alloc
  const uint8_t* data() const { return data_; }
  uint8_t* mutable_data() { return data_; }
  size_t size() const { return size_; }
  // Hands the bytes to the caller (who must free() them); the buffer becomes empty.
  uint8_t* Release();

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
  size_t capacity_ = 0;
};

}  // namespace cerebro::train
