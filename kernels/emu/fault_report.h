// While an emulated kernel runs, a segmentation fault (an out-of-bounds access that hits a guard
// page, a fiber stack overflow, a wild pointer) is reported with the kernel, block and thread that
// faulted and what the address was, before the process dies as it would have without the report.
#pragma once

#include "emu/fiber_stacks.h"
#include "emu/shared_memory.h"

namespace dg::emu {

class FaultReportScope {
 public:
  FaultReportScope(const DynamicSharedMemory& dynamic_shared, const FiberStackPool& stacks);
  ~FaultReportScope();
  FaultReportScope(const FaultReportScope&) = delete;
  FaultReportScope& operator=(const FaultReportScope&) = delete;
};

}  // namespace dg::emu
