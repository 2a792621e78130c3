#include "cerebro/train/malloc_buffer.h"

#include <algorithm>
#include <cstring>
#include <new>

namespace cerebro::train {

MallocBuffer& MallocBuffer::operator=(MallocBuffer&& other) noexcept {
  if (this != &other) {
    std::free(data_);
    data_ = std::exchange(other.data_, nullptr);
    size_ = std::exchange(other.size_, 0);
    capacity_ = std::exchange(other.capacity_, 0);
  }
  return *this;
}

void MallocBuffer::Reserve(size_t capacity) {
  if (capacity <= capacity_) return;
  void* grown = std::realloc(data_, capacity);
  if (grown == nullptr) throw std::bad_alloc();
  data_ = static_cast<uint8_t*>(grown);
  capacity_ = capacity;
}

void MallocBuffer::Append(const void* bytes, size_t n) {
  if (size_ + n > capacity_) Reserve(std::max(size_ + n, capacity_ * 2));
  if (n > 0) std::memcpy(data_ + size_, bytes, n);
  size_ += n;
}

uint8_t* MallocBuffer::Release() {
  size_ = capacity_ = 0;
  return std::exchange(data_, nullptr);
}

}  // namespace cerebro::train
