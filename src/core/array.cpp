#include "rill/array.h"

#include <iomanip>
#include <sstream>
#include <stdexcept>

#include "core/dispatch.h"
#include "core/format.h"
#include "core/node.h"
#include "rill/transforms.h"
#include "backend/gpu.h"

namespace rill {

using detail::Node;

namespace {

std::string shape_str(const Shape& shape) { return detail::tuple_str(shape); }
}  // namespace

size_t array::count_of(const Shape& shape, const char* op) {
  size_t n = 1;
  for (int32_t d : shape) {
    if (d < 0) {
      throw std::invalid_argument(std::string("[") + op + "] negative dimension in shape " +
                                  shape_str(shape) + ".");
    }
    n *= static_cast<size_t>(d);
  }
  return n;
}

array::array(const void* data, Dtype src, Shape shape, Dtype dtype, size_t count) {
  size_t n = count_of(shape, "array");
  detail::check_extent(shape, dtype, "array");
  if (n != count) {
    std::ostringstream msg;
    msg << "[array] " << count << " values given for shape " << shape_str(shape) << " ("
        << n << " elements).";
    throw std::invalid_argument(msg.str());
  }
  auto buf = std::make_shared<detail::Buffer>(n * dtype.size);
  detail::dispatch_any(src, [&](auto st) {
    using S = typename decltype(st)::type;
    detail::dispatch_any(dtype, [&](auto dt) {
      using D = typename decltype(dt)::type;
      const S* in = static_cast<const S*>(data);
      D* out = static_cast<D*>(buf->ptr);
      for (size_t i = 0; i < n; ++i) out[i] = detail::convert<D>(in[i]);
    });
  });
  node_ = std::make_shared<Node>(std::move(shape), dtype, std::move(buf),
                                 default_stream(default_device()));
}

template <>
array::array(const std::vector<bool>& data, Shape shape, Dtype dtype)
    : array(std::vector<uint8_t>(data.begin(), data.end()).data(), bool_, std::move(shape),
            dtype, data.size()) {}

array::~array() = default;

Dtype array::dtype() const { return node_->dtype; }
const Shape& array::shape() const { return node_->shape; }

int array::shape(int dim) const {
  int n = ndim();
  if (dim < -n || dim >= n) {
    std::ostringstream msg;
    msg << "[shape] dimension " << dim << " is out of range for an array of " << n
        << " dimensions.";
    throw std::invalid_argument(msg.str());
  }
  return node_->shape[dim < 0 ? dim + n : dim];
}

const Strides& array::strides() const { return node_->strides; }
size_t array::size() const { return node_->size; }
Stream array::stream() const { return node_->stream_id; }

void array::eval() { rill::eval({*this}); }

bool array::is_available() const { return node_->done(); }

void array::check_access(Dtype requested, const char* op) {
  if (requested != dtype()) {
    std::ostringstream msg;
    msg << "[" << op << "] requested " << requested << " from an array of dtype " << dtype()
        << ".";
    throw std::invalid_argument(msg.str());
  }
  if (node_->status.load(std::memory_order_acquire) != detail::Status::available) eval();
}

void array::throw_item_size() const {
  std::ostringstream msg;
  msg << "[item] needs an array of one element, got shape " << shape_str(shape()) << " ("
      << size() << " elements).";
  throw std::invalid_argument(msg.str());
}

void* array::data_ptr() const { return const_cast<void*>(detail::host_data(*node_)); }

namespace {

template <typename T>
void print_value(std::ostream& os, T v) {
  if constexpr (std::is_same_v<T, bool>) {
    os << (v ? "true" : "false");
  } else if constexpr (std::is_same_v<T, uint8_t> || std::is_same_v<T, int8_t>) {
    os << static_cast<int>(v);
  } else if constexpr (detail::is_half_v<T>) {
    os << static_cast<float>(v);
  } else if constexpr (std::is_same_v<T, complex64_t>) {
    os << v.real() << (std::signbit(v.imag()) ? "-" : "+") << std::fabs(v.imag()) << "j";
  } else {
    os << v;
  }
}

template <typename T>
void print_dim(std::ostream& os, const Node& n, int dim, int64_t offset) {
  const T* base = static_cast<const T*>(n.buffer->ptr);
  os << "[";
  int len = n.shape[dim];
  bool last = dim + 1 == static_cast<int>(n.shape.size());
  for (int i = 0; i < len; ++i) {
    if (i > 0) os << (last ? ", " : ",\n" + std::string(dim + 7, ' '));
    int64_t off = offset + i * n.strides[dim];
    if (last) {
      print_value(os, base[off]);
    } else {
      print_dim<T>(os, n, dim + 1, off);
    }
  }
  os << "]";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, array a) {
  a.eval();
  // The host's view of the data: a copy of what a GPU array spans.
  Node n(a.shape(), a.dtype(), nullptr, a.stream());
  n.buffer = std::make_shared<detail::Buffer>(const_cast<void*>(detail::host_data(*a.node())),
                                              0, a.node()->buffer);
  n.strides = a.strides();
  os << "array(";
  detail::dispatch_any(n.dtype, [&](auto t) {
    using T = typename decltype(t)::type;
    if (n.shape.empty()) {
      print_value(os, static_cast<const T*>(n.buffer->ptr)[n.offset]);
    } else {
      print_dim<T>(os, n, 0, n.offset);
    }
  });
  return os << ", dtype=" << n.dtype << ")";
}

}  // namespace rill
