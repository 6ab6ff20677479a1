// Text to token ids and back through SentencePiece (a folder's
// tokenizer.model), when rill_llm was built with it (Debian's
// libsentencepiece-dev); without it, available() is false and constructing
// one throws.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace rill::llm {

class Tokenizer {
 public:
  // Whether this build has SentencePiece.
  static bool available();

  // Throws std::runtime_error when the file cannot be loaded, or when the
  // build has no SentencePiece.
  explicit Tokenizer(const std::string& model_file);
  ~Tokenizer();
  Tokenizer(Tokenizer&&) noexcept;
  Tokenizer& operator=(Tokenizer&&) noexcept;

  // The ids of `text`, after the BOS id when add_bos and the model has one.
  // Const: several threads may encode and decode at once.
  std::vector<int> encode(const std::string& text, bool add_bos = true) const;
  std::string decode(const std::vector<int>& ids) const;
  int vocab_size() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace rill::llm
