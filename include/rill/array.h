// array: a lazily evaluated n-dimensional array.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <iterator>
#include <concepts>
#include <memory>
#include <ostream>
#include <stdexcept>
#include <string>
#include <vector>

#include "rill/dtype.h"
#include "rill/stream.h"

namespace rill {

using Shape = std::vector<int32_t>;
using Strides = std::vector<int64_t>;

namespace detail {
struct Node;
}

// A handle to a node of the computation graph. Copies share the node. A handle
// may be copied to and used from any thread; the node it names is immutable
// once computed and is computed at most once, whichever threads evaluate it.
class array {
 public:
  // A scalar.
  template <ElementType T>
  explicit array(T val, Dtype dtype = default_dtype_of<T>) : array(&val, dtype_of<T>, Shape{}, dtype) {}

  // From a range of values, in row-major order.
  template <std::input_iterator It>
  array(It first, Shape shape,
        Dtype dtype = default_dtype_of<typename std::iterator_traits<It>::value_type>)
      : array(std::vector<typename std::iterator_traits<It>::value_type>(
                  first, std::next(first, count_of(shape, "array"))),
              shape, dtype) {}  // not moved: count_of may run after the move

  template <typename T>
  array(std::initializer_list<T> data, Dtype dtype = default_dtype_of<T>)
      : array(std::vector<T>(data), Shape{static_cast<int32_t>(data.size())}, dtype) {}
  array(std::initializer_list<float> data)
      : array(std::vector<float>(data), Shape{static_cast<int32_t>(data.size())}, float32) {}
  array(std::initializer_list<int> data, Dtype dtype)
      : array(std::vector<int>(data), Shape{static_cast<int32_t>(data.size())}, dtype) {}
  template <typename T>
  array(std::initializer_list<T> data, Shape shape, Dtype dtype = default_dtype_of<T>)
      : array(std::vector<T>(data), std::move(shape), dtype) {}
  template <typename T>
  array(const std::vector<T>& data, Shape shape, Dtype dtype = default_dtype_of<T>)
      : array(static_cast<const void*>(data.data()), dtype_of<T>, std::move(shape), dtype,
              data.size()) {}

  array(const array&) = default;
  array(array&&) noexcept = default;
  array& operator=(const array&) = default;
  array& operator=(array&&) noexcept = default;
  ~array();

  Dtype dtype() const;
  const Shape& shape() const;
  // Size of one dimension; negative dims count from the end.
  int shape(int dim) const;
  // Strides in elements. Meaningful once evaluated (views get theirs then).
  const Strides& strides() const;
  size_t size() const;
  int ndim() const { return static_cast<int>(shape().size()); }
  size_t itemsize() const { return dtype().size; }
  size_t nbytes() const { return size() * itemsize(); }

  // The stream the node's op runs on (or ran on).
  Stream stream() const;

  // Evaluates this array (see rill::eval).
  void eval();
  // True once computed (or failed); never blocks.
  bool is_available() const;

  // Evaluates, then returns the single element. T must match the dtype.
  template <typename T>
  T item() {
    check_access(dtype_of<T>, "item");
    if (size() != 1) throw_item_size();
    return *static_cast<const T*>(data_ptr());
  }

  // Evaluates, then returns a pointer to the first element. Elements follow
  // strides(); T must match the dtype.
  template <typename T>
  T* data() {
    check_access(dtype_of<T>, "data");
    return static_cast<T*>(data_ptr());
  }
  template <typename T>
  const T* data() const {
    const_cast<array*>(this)->check_access(dtype_of<T>, "data");
    return static_cast<const T*>(data_ptr());
  }

  // Internal: the graph node.
  const std::shared_ptr<detail::Node>& node() const { return node_; }
  std::shared_ptr<detail::Node>& mutable_node() { return node_; }
  explicit array(std::shared_ptr<detail::Node> node) : node_(std::move(node)) {}

  // Internal: builds a constant from `count` host values of type `src`.
  array(const void* data, Dtype src, Shape shape, Dtype dtype, size_t count = 1);

 private:
  static size_t count_of(const Shape& shape, const char* op);
  void check_access(Dtype requested, const char* op);
  [[noreturn]] void throw_item_size() const;
  void* data_ptr() const;

  std::shared_ptr<detail::Node> node_;
};

// std::vector<bool> has no data(); route it through a byte buffer.
template <>
array::array(const std::vector<bool>& data, Shape shape, Dtype dtype);

std::ostream& operator<<(std::ostream& os, array a);

}  // namespace rill
