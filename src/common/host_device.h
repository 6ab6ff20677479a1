// Marks code that both the C++ compiler and nvcc compile, for the host and the
// device alike (the headers of src/common/). Internal.
#pragma once

#if defined(__CUDACC__)
#define RILL_HD __host__ __device__ __forceinline__
#define RILL_HD_INLINE __host__ __device__ __forceinline__
#else
#define RILL_HD inline
// Inlined into every loop even where the compiler's heuristics would not: for
// the elementwise ops' per-element switches, which fold only once inlined into
// a loop of one op (a call per element otherwise).
#define RILL_HD_INLINE inline __attribute__((always_inline))
#endif
