#include "core/linalg_primitives.h"

#include <stdexcept>

namespace rill::detail {

void LinalgPrimitive::eval(const Kernels& k, const std::vector<array>& in, Node& out) {
  // The front ends refuse GPU streams; a GPU segment reaching here is a bug.
  if (&k != &cpu_backend) throw std::logic_error("LAPACK kernels run on the CPU only");
  eval_cpu(in, out);
}

void QRF::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::qr(node_of(in[0]), out);
}
void SVD::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::svd(node_of(in[0]), compute_uv_, out);
}
void Inverse::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::inverse(node_of(in[0]), triangular_, upper_, out);
}
void Cholesky::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::cholesky(node_of(in[0]), upper_, out);
}
void Eigh::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::eigh(node_of(in[0]), upper_, vectors_, out);
}
void Eig::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::eig(node_of(in[0]), vectors_, out);
}
void LUF::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::lu_factor(node_of(in[0]), out);
}
void Solve::eval_cpu(const std::vector<array>& in, Node& out) {
  cpu::solve(node_of(in[0]), node_of(in[1]), kind_, out);
}

void LinalgPart::eval(const Kernels&, const std::vector<array>& inputs, Node& out) {
  const Node& in = node_of(inputs[0]);
  const int64_t ratio = in.dtype.size / out.dtype.size;
  const size_t batch = in.shape.size() - 1;
  Strides strides(out.shape.size());
  for (size_t d = 0; d < batch; ++d) strides[d] = in.strides[d] * ratio;
  int64_t step = 1;
  for (size_t d = out.shape.size(); d-- > batch;) {
    strides[d] = step;
    step *= out.shape[d];
  }
  set_view(out, in, std::move(strides),
           in.offset * ratio + byte_offset_ / out.dtype.size);
}

}  // namespace rill::detail
