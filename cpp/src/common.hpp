// Every internal header the ops share, in one include, for a file that uses nearly all of them
// (backprop.cc). Each part has its own header; include those you use:
//   checks.hpp          argument checks and the error they raise
//   memory.hpp          checked buffer allocation (AllocationError)
//   tensor_view.hpp     views of caller memory in either layout, input rows, dense output
//   activation.hpp      the fused activation as the kernels take it
//   parallel.hpp        the thread runtime: threads_for_call, parallel_for (over thread_pool.hpp)
//   depthwise_rows.hpp  the depthwise row step and the taps inside the input
//   gemm.hpp            the packed GEMM and the tiling of fused passes
#pragma once

#include "activation.hpp"
#include "checks.hpp"
#include "depthwise_rows.hpp"
#include "gemm.hpp"
#include "memory.hpp"
#include "parallel.hpp"
#include "tensor_view.hpp"
