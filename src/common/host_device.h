// Marks code that both the C++ compiler and nvcc compile, for the host and the
// device alike (the headers of src/common/). Internal.
#pragma once

#if defined(__CUDACC__)
#define RILL_HD __host__ __device__ __forceinline__
#else
#define RILL_HD inline
#endif
