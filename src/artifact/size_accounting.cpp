#include "artifact/size_accounting.h"

#include "core/error.h"

namespace dg::artifact {

void enforce_size_cap(const SubmissionSize& size, bool allow_oversize) {
  if (!size.over_cap() || allow_oversize) return;
  DG_THROW("submission size " << size.total() << " bytes (artifact " << size.artifact_bytes << " + code " << size.code_bytes
                              << ") is over the challenge's cap of " << kSubmissionCapBytes << " bytes by "
                              << size.total() - kSubmissionCapBytes
                              << "; shrink the model or use a stronger codec/narrower ints (artifact_codec, "
                                 "artifact_bits), or pass --allow-oversize to write it anyway");
}

}  // namespace dg::artifact
