#include "emu/control.h"

#include <atomic>
#include <cstdlib>
#include <string>

#include "core/error.h"

namespace dg::emu {
namespace {

uint64_t seed_from_environment() {
  const char* text = std::getenv("DARTGOLF_EMU_SEED");
  if (text == nullptr || *text == '\0') return 1;
  char* end = nullptr;
  const unsigned long long value = std::strtoull(text, &end, 10);
  DG_CHECK(*end == '\0' && std::string(text).find('-') == std::string::npos,
           "DARTGOLF_EMU_SEED=" << text << " is not an unsigned integer (0 = round robin, other = shuffled)");
  return value;
}

bool bounds_from_environment() {
  const char* text = std::getenv("DARTGOLF_EMU_CHECK_BOUNDS");
  if (text == nullptr || *text == '\0') return false;
  const std::string value(text);
  DG_CHECK(value == "0" || value == "1", "DARTGOLF_EMU_CHECK_BOUNDS=" << value << " must be 0 or 1");
  return value == "1";
}

std::atomic<uint64_t>& seed_value() {
  static std::atomic<uint64_t> seed{seed_from_environment()};
  return seed;
}

std::atomic<bool>& bounds_value() {
  static std::atomic<bool> on{bounds_from_environment()};
  return on;
}

}  // namespace

uint64_t schedule_seed() { return seed_value().load(); }
void set_schedule_seed(uint64_t seed) { seed_value().store(seed); }
bool bounds_check() { return bounds_value().load(); }
void set_bounds_check(bool on) { bounds_value().store(on); }

}  // namespace dg::emu
