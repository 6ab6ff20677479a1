#include "rill/llm/tokenizer.h"

#include <stdexcept>

#ifdef RILL_LLM_SENTENCEPIECE
#include <sentencepiece_processor.h>
#endif

namespace rill::llm {

#ifdef RILL_LLM_SENTENCEPIECE

struct Tokenizer::Impl {
  sentencepiece::SentencePieceProcessor sp;
};

bool Tokenizer::available() {
  return true;
}

Tokenizer::Tokenizer(const std::string& model_file) : impl_(std::make_unique<Impl>()) {
  auto status = impl_->sp.Load(model_file);
  if (!status.ok()) {
    throw std::runtime_error("[llm::Tokenizer] cannot load " + model_file + ": " +
                             status.ToString());
  }
}

std::vector<int> Tokenizer::encode(const std::string& text, bool add_bos) const {
  std::vector<int> ids;
  auto status = impl_->sp.Encode(text, &ids);
  if (!status.ok())
    throw std::runtime_error("[llm::Tokenizer] encode: " + status.ToString());
  if (add_bos && impl_->sp.bos_id() >= 0) ids.insert(ids.begin(), impl_->sp.bos_id());
  return ids;
}

std::string Tokenizer::decode(const std::vector<int>& ids) const {
  const int n = impl_->sp.GetPieceSize();
  for (int id : ids) {
    if (id < 0 || id >= n) {
      throw std::invalid_argument("[llm::Tokenizer] id " + std::to_string(id) +
                                  " is outside the tokenizer's [0, " + std::to_string(n) +
                                  ")");
    }
  }
  std::string text;
  auto status = impl_->sp.Decode(ids, &text);
  if (!status.ok())
    throw std::runtime_error("[llm::Tokenizer] decode: " + status.ToString());
  return text;
}

int Tokenizer::vocab_size() const {
  return impl_->sp.GetPieceSize();
}

#else

struct Tokenizer::Impl {};

bool Tokenizer::available() {
  return false;
}

Tokenizer::Tokenizer(const std::string& model_file) {
  throw std::runtime_error("[llm::Tokenizer] cannot read " + model_file +
                           ": this build has no SentencePiece (libsentencepiece-dev)");
}

std::vector<int> Tokenizer::encode(const std::string&, bool) const {
  return {};
}
std::string Tokenizer::decode(const std::vector<int>&) const {
  return {};
}
int Tokenizer::vocab_size() const {
  return 0;
}

#endif

Tokenizer::~Tokenizer() = default;
Tokenizer::Tokenizer(Tokenizer&&) noexcept = default;
Tokenizer& Tokenizer::operator=(Tokenizer&&) noexcept = default;

}  // namespace rill::llm
