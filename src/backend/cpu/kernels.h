// The CPU backend: its kernels are declared by backend/kernels.h (the list
// every backend implements); this adds the helpers CPU kernels share. Internal.
#pragma once

#include <initializer_list>

#include "backend/kernels.h"
#include "core/node.h"

namespace rill::detail::cpu {

// Gives `out` the host buffer of the first of `donors` that may donate it
// (donatable(), node.h), else a fresh row-major one. `elementwise`: the
// kernel writes output element j only from input elements j.
void allocate_or_donate(Node& out, std::initializer_list<const Node*> donors,
                        bool elementwise = true);

// rill's workers already run one task per core: BLAS (and LAPACK's BLAS)
// threads on top of them would oversubscribe the machine (SPEC X1). Every
// kernel that calls OpenBLAS calls this first; it sets one thread, once.
void single_threaded_blas();

// copy() into out's existing buffer and strides (out is not allocated).
void copy_into(const Node& in, Node& out);

// Tests: float32 attention block products through BLAS even where the
// AVX-512 kernel would take them (RILL_CPU_ATTENTION_BLAS=1 does the same for
// a process).
void attention_products_on_blas_for_testing(bool on);

}  // namespace rill::detail::cpu
