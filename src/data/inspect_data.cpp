#include "data/inspect_data.h"

#include <sentencepiece_processor.h>

#include <algorithm>
#include <array>
#include <fstream>
#include <iomanip>
#include <sstream>
#include <vector>

#include "core/error.h"
#include "core/fs.h"
#include "data/byte_luts.h"
#include "data/shard.h"
#include "data/tokenizer.h"

namespace dg::data {
namespace fs = std::filesystem;

namespace {

constexpr int kShardBosId = 1;                 // every prepared document starts with BOS id 1
constexpr size_t kPreviewCharacters = 200;     // decoded text shown for a shard
constexpr int64_t kPreviewTokens = 2000;       // enough tokens for that many characters
constexpr uintmax_t kMaxModelProbeBytes = 256u << 20;  // larger files are not probed as models

std::string fixed4(double value) {
  std::ostringstream out;
  out << std::fixed << std::setprecision(4) << value;
  return out.str();
}

bool starts_with_shard_magic(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::array<unsigned char, 4> head{};
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  if (in.gcount() != 4) return false;
  const uint32_t magic = head[0] | (head[1] << 8) | (head[2] << 16) | (static_cast<uint32_t>(head[3]) << 24);
  return static_cast<int32_t>(magic) == kShardMagic;
}

bool parses_as_sentencepiece(const fs::path& file) {
  std::error_code ec;
  const auto size = fs::file_size(file, ec);
  if (ec || size == 0 || size > kMaxModelProbeBytes) return false;
  sentencepiece::SentencePieceProcessor probe;
  return probe.LoadFromSerializedProto(read_file_bytes(file)).ok() && probe.GetPieceSize() > 0;
}

// The first `max_chars` code points of `text`, with control whitespace made visible.
std::string preview(const std::string& text, size_t max_chars) {
  std::string out;
  size_t chars = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    const auto byte = static_cast<unsigned char>(text[i]);
    const bool starts_character = (byte & 0xC0) != 0x80;
    if (starts_character && chars++ == max_chars) {
      out += "...";
      break;
    }
    if (byte == '\n') {
      out += "\\n";
    } else if (byte == '\t') {
      out += "\\t";
    } else if (byte == '\r') {
      out += "\\r";
    } else {
      out += text[i];
    }
  }
  return out;
}

// Decodes the shard's first tokens, marking each BOS as "<s>" so document starts stay visible.
std::string decoded_start(const std::vector<uint16_t>& tokens, const Tokenizer& tok) {
  const int64_t n = std::min<int64_t>(static_cast<int64_t>(tokens.size()), kPreviewTokens);
  std::string text;
  std::vector<int> segment;
  auto flush = [&] {
    if (!segment.empty()) text += tok.decode(segment);
    segment.clear();
  };
  for (int64_t i = 0; i < n; ++i) {
    const int id = tokens[i];
    if (id == tok.bos_id()) {
      flush();
      text += "<s>";
    } else if (id < tok.vocab_size()) {
      segment.push_back(id);
    }
  }
  flush();
  return text;
}

}  // namespace

DataFileKind detect_data_file(const fs::path& file) {
  std::error_code ec;
  DG_CHECK(fs::exists(file, ec), file.string() << ": no such file");
  DG_CHECK(fs::is_regular_file(file, ec), file.string() << ": not a regular file");
  if (starts_with_shard_magic(file)) return DataFileKind::shard;
  if (parses_as_sentencepiece(file)) return DataFileKind::tokenizer;
  const std::string extension = file.extension().string();
  if (extension == ".bin") return DataFileKind::shard;
  if (extension == ".model") return DataFileKind::tokenizer;
  return DataFileKind::unknown;
}

std::string inspect_shard(const fs::path& shard, const Tokenizer* tokenizer) {
  const ShardInfo info = read_shard_header(shard);
  const std::vector<uint16_t> tokens = read_shard(shard);
  std::ostringstream out;
  out << "file: " << shard.string() << "\n";
  out << "kind: token shard (magic " << kShardMagic << ", version " << kShardVersion << ")\n";
  out << "tokens: " << info.num_tokens << "\n";
  if (tokens.empty()) return out.str();

  const auto [min_it, max_it] = std::minmax_element(tokens.begin(), tokens.end());
  const int64_t bos_count = std::count(tokens.begin(), tokens.end(), static_cast<uint16_t>(kShardBosId));
  out << "token ids: min " << *min_it << ", max " << *max_it << "\n";
  out << "documents started (BOS id " << kShardBosId << "): " << bos_count << "\n";
  if (tokenizer == nullptr) return out.str();

  const int max_id = *max_it;
  out << "tokenizer: " << tokenizer->path().string() << " (vocab " << tokenizer->vocab_size() << ")\n";
  if (max_id >= tokenizer->vocab_size()) {
    const int64_t outside = std::count_if(tokens.begin(), tokens.end(),
                                          [&](uint16_t id) { return id >= tokenizer->vocab_size(); });
    out << "warning: " << outside << " token(s) have ids >= the tokenizer's vocab " << tokenizer->vocab_size()
        << "; they count as 0-byte boundaries\n";
  }
  // The challenge scores token i+1 after token i; the shard's first token is never a target.
  const ByteLuts luts = build_byte_luts(*tokenizer, max_id + 1);
  const std::vector<int32_t> ids(tokens.begin(), tokens.end());
  const int64_t targets = static_cast<int64_t>(ids.size()) - 1;
  const int64_t bytes = targets > 0 ? count_target_bytes(luts, ids.data(), ids.data() + 1, targets) : 0;
  out << "bytes (challenge rule, " << targets << " targets): " << bytes << "\n";
  if (targets > 0 && bytes > 0) {
    out << "bytes per token: " << fixed4(static_cast<double>(bytes) / static_cast<double>(targets)) << "\n";
  }
  out << "text: " << preview(decoded_start(tokens, *tokenizer), kPreviewCharacters) << "\n";
  return out.str();
}

std::string inspect_tokenizer(const fs::path& model) {
  const Tokenizer tok = Tokenizer::load(model);
  const auto& sp = tok.processor();
  const int pieces = tok.vocab_size();
  int control = 0, unknown = 0, unused = 0, bytes = 0, normal = 0, leading_space = 0;
  for (int id = 0; id < pieces; ++id) {
    if (sp.IsControl(id)) {
      ++control;
    } else if (sp.IsUnknown(id)) {
      ++unknown;
    } else if (sp.IsUnused(id)) {
      ++unused;
    } else if (sp.IsByte(id)) {
      ++bytes;
    } else {
      ++normal;
    }
  }
  const ByteLuts luts = build_byte_luts(tok, pieces);
  int64_t base_sum = 0;
  int counted = 0;
  for (int id = 0; id < pieces; ++id) {
    leading_space += luts.has_leading_space[id];
    if (luts.is_boundary[id] != 0) continue;
    base_sum += luts.base_bytes[id];
    ++counted;
  }
  std::ostringstream out;
  out << "file: " << model.string() << "\n";
  out << "kind: SentencePiece model\n";
  out << "vocab size: " << pieces << "\n";
  out << "special ids: pad " << tok.pad_id() << ", bos " << tok.bos_id() << ", eos " << tok.eos_id() << ", unk "
      << tok.unk_id() << "\n";
  out << "pieces: control " << control << ", unknown " << unknown << ", unused " << unused << ", byte " << bytes
      << ", normal " << normal << "\n";
  out << "pieces with a leading \xE2\x96\x81: " << leading_space << "\n";
  out << "mean base bytes (byte and normal pieces): "
      << (counted > 0 ? fixed4(static_cast<double>(base_sum) / counted) : std::string("n/a")) << "\n";
  return out.str();
}

std::string inspect_data_file(const fs::path& file, const std::optional<fs::path>& tokenizer) {
  switch (detect_data_file(file)) {
    case DataFileKind::shard: {
      if (!tokenizer) return inspect_shard(file);
      const Tokenizer tok = Tokenizer::load(*tokenizer);
      return inspect_shard(file, &tok);
    }
    case DataFileKind::tokenizer:
      return inspect_tokenizer(file);
    case DataFileKind::unknown:
      break;
  }
  DG_THROW(file.string() << ": unknown file type: neither a token shard (int32 magic " << kShardMagic
                         << " at offset 0, or a .bin name), a SentencePiece model (.model), a checkpoint (.safetensors)"
                            " nor an artifact (magic DGOLFART)");
}

}  // namespace dg::data
