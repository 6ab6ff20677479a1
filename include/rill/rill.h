// The rill umbrella header.
#pragma once

#include "rill/array.h"
#include "rill/compile.h"
#include "rill/device.h"
#include "rill/dtype.h"
#include "rill/einsum.h"
#include "rill/fast.h"
#include "rill/fft.h"
#include "rill/io.h"
#include "rill/linalg.h"
#include "rill/memory.h"
#include "rill/nn.h"
#include "rill/ops.h"
#include "rill/stream.h"
#include "rill/transforms.h"
#include "rill/random.h"
