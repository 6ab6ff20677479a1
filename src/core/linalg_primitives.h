// The primitives of rill::linalg (core/linalg.cpp builds them): one per
// family of LAPACK kernels (backend/cpu/linalg.h), which only the CPU runs.
// Internal.
//
// A factorization with several results computes them into one node, [..., P]
// in the factor's dtype, each matrix's results one after the other; each
// result the caller sees is a LinalgPart view of it. `name` is the public op
// the node was built for ("linalg::pinv" for pinv's SVD), for errors at eval.
#pragma once

#include "backend/cpu/linalg.h"
#include "core/primitives.h"

namespace rill::detail {

// Base of the LAPACK primitives: they run on the CPU only.
class LinalgPrimitive : public Primitive {
 public:
  explicit LinalgPrimitive(const char* name) : name_(name) {}
  const char* name() const override { return name_; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) final;

 protected:
  virtual void eval_cpu(const std::vector<array>& in, Node& out) = 0;

 private:
  const char* name_;
};

// Q [M, K] then R [K, N].
class QRF : public LinalgPrimitive {
 public:
  using LinalgPrimitive::LinalgPrimitive;

 protected:
  void eval_cpu(const std::vector<array>& in, Node& out) override;
};

// U [M, M], S [K], Vt [N, N]; S alone without compute_uv.
class SVD : public LinalgPrimitive {
 public:
  SVD(const char* name, bool compute_uv)
      : LinalgPrimitive(name), compute_uv_(compute_uv) {}

 protected:
  void eval_cpu(const std::vector<array>& in, Node& out) override;

 private:
  bool compute_uv_;
};

// inv, or tri_inv of the lower (upper) triangle.
class Inverse : public LinalgPrimitive {
 public:
  Inverse(const char* name, bool triangular, bool upper)
      : LinalgPrimitive(name), triangular_(triangular), upper_(upper) {}

 protected:
  void eval_cpu(const std::vector<array>& in, Node& out) override;

 private:
  bool triangular_, upper_;
};

class Cholesky : public LinalgPrimitive {
 public:
  Cholesky(const char* name, bool upper) : LinalgPrimitive(name), upper_(upper) {}

 protected:
  void eval_cpu(const std::vector<array>& in, Node& out) override;

 private:
  bool upper_;
};

// Eigenvalues [N], then with `vectors` the eigenvectors [N, N].
class Eigh : public LinalgPrimitive {
 public:
  Eigh(const char* name, bool upper, bool vectors)
      : LinalgPrimitive(name), upper_(upper), vectors_(vectors) {}

 protected:
  void eval_cpu(const std::vector<array>& in, Node& out) override;

 private:
  bool upper_, vectors_;
};

// Eigenvalues [N], then with `vectors` the eigenvectors [N, N], complex64.
class Eig : public LinalgPrimitive {
 public:
  Eig(const char* name, bool vectors) : LinalgPrimitive(name), vectors_(vectors) {}
  bool accepts_complex() const override { return true; }

 protected:
  void eval_cpu(const std::vector<array>& in, Node& out) override;

 private:
  bool vectors_;
};

// LU [M, N], then the pivots and row indices (uint32): cpu::lu_factor.
class LUF : public LinalgPrimitive {
 public:
  using LinalgPrimitive::LinalgPrimitive;

 protected:
  void eval_cpu(const std::vector<array>& in, Node& out) override;
};

// Inputs: a [..., N, N] and b [..., N, R] with out's batch dims.
class Solve : public LinalgPrimitive {
 public:
  Solve(const char* name, cpu::SolveKind kind) : LinalgPrimitive(name), kind_(kind) {}

 protected:
  void eval_cpu(const std::vector<array>& in, Node& out) override;

 private:
  cpu::SolveKind kind_;
};

// One result of a packed factorization: a view of its input [..., P] as
// [..., tail], starting `byte_offset` bytes into each row; the output's
// element width divides the input's.
class LinalgPart : public Primitive {
 public:
  LinalgPart(const char* name, int64_t byte_offset)
      : name_(name), byte_offset_(byte_offset) {}
  bool accepts_complex() const override { return true; }
  const char* name() const override { return name_; }
  void eval(const Kernels& k, const std::vector<array>& in, Node& out) override;

 private:
  const char* name_;
  int64_t byte_offset_;
};

}  // namespace rill::detail
