// The T5 / umT5 tokenizer as Wan2.1 uses it for its text encoder
// (wan/modules/tokenizers.py: HuggingfaceTokenizer(name, seq_len=text_len,
// clean='whitespace'), called with return_mask=True, add_special_tokens=True):
// clean the prompt, encode with sentencepiece, append </s>, pad to text_len.
//
//   auto tok = soragen::tokenizer::Tokenizer::load("umt5/spiece.model", 512, logger);
//   soragen::tokenizer::Tokenized t = tok.encode("A cat walks on the grass");
//   // t.ids: [text_len] ids, t.mask: [text_len] 1 for tokens, 0 for padding
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "soragen/log.h"
#include "tokenizer/clean.h"
#include "tokenizer/spm_library.h"

namespace soragen::tokenizer {

struct Tokenized {
  std::vector<int64_t> ids;   // [text_len]: pieces, then </s>, then pad ids
  std::vector<int64_t> mask;  // [text_len]: 1 up to and including </s>, then 0
  int length = 0;             // tokens including </s> (the reference's seq_lens)
  int dropped = 0;            // pieces cut off because the prompt was too long
};

class Tokenizer {
 public:
  // spiece_model: a sentencepiece model with an end-of-sequence piece.
  // text_len >= 1 (Wan2.1: 512). The logger receives the truncation warning.
  static Tokenizer load(const std::filesystem::path& spiece_model, int text_len, const Logger& logger);

  // UsageError when the prompt is empty after cleaning or not valid UTF-8.
  // A prompt longer than text_len keeps its first text_len - 1 pieces and
  // </s> (HF's truncation=True) and logs a warning with the count dropped.
  Tokenized encode(const std::string& prompt) const;

  // What the reference makes of an empty prompt (the default negative
  // prompt, or the dropped text of classifier-free guidance training): a
  // lone </s>, then padding.
  Tokenized encode_empty() const;

  int vocab_size() const { return model_.vocab_size(); }
  int text_len() const { return text_len_; }
  int eos_id() const { return eos_id_; }
  int pad_id() const { return pad_id_; }
  const SpmModel& model() const { return model_; }

 private:
  Tokenizer(SpmModel model, int text_len, Logger logger);

  SpmModel model_;
  int text_len_;
  int eos_id_;
  int pad_id_;
  Logger logger_;
};

}  // namespace soragen::tokenizer
