#include "tokenizer/tokenizer.h"

#include <algorithm>
#include <utility>

#include "soragen/error.h"

namespace soragen::tokenizer {

Tokenizer::Tokenizer(SpmModel model, int text_len, Logger logger)
    : model_(std::move(model)),
      text_len_(text_len),
      eos_id_(model_.eos_id()),
      // T5's <pad> is id 0, which is also what HF pads with; a model without
      // a pad piece gets 0 as well.
      pad_id_(std::max(0, model_.pad_id())),
      logger_(std::move(logger)) {}

Tokenizer Tokenizer::load(const std::filesystem::path& spiece_model, int text_len, const Logger& logger) {
  if (text_len < 1) {
    throw UsageError("text length " + std::to_string(text_len) +
                     " is too small: it must be at least 1 (room for </s>)");
  }
  SpmModel model = SpmModel::load(spiece_model);
  if (model.eos_id() < 0) {
    throw ModelError("tokenizer model '" + spiece_model.string() + "' has no end-of-sequence piece (</s>)");
  }
  logger.debug("tokenizer: '" + spiece_model.string() + "' (" + std::to_string(model.vocab_size()) +
               " pieces) through '" + model.shim_path().string() + "'");
  return Tokenizer(std::move(model), text_len, logger);
}

Tokenized Tokenizer::encode(const std::string& prompt) const {
  const std::string cleaned = clean_prompt(prompt);
  if (cleaned.empty()) {
    throw UsageError(
        "prompt is empty after removing whitespace and HTML entities; describe the video to generate");
  }
  const std::vector<int32_t> pieces = model_.encode(cleaned);

  const size_t room = static_cast<size_t>(text_len_) - 1;  // the last slot is for </s>
  const size_t kept = std::min(pieces.size(), room);
  Tokenized out;
  out.dropped = static_cast<int>(pieces.size() - kept);
  out.length = static_cast<int>(kept) + 1;
  out.ids.assign(static_cast<size_t>(text_len_), pad_id_);
  out.mask.assign(static_cast<size_t>(text_len_), 0);
  std::copy(pieces.begin(), pieces.begin() + static_cast<std::ptrdiff_t>(kept), out.ids.begin());
  out.ids[kept] = eos_id_;
  std::fill(out.mask.begin(), out.mask.begin() + out.length, 1);

  if (out.dropped > 0) {
    logger_.warn("prompt is " + std::to_string(pieces.size() + 1) +
                 " tokens long with </s>, the text encoder takes " + std::to_string(text_len_) +
                 ": dropped the last " + std::to_string(out.dropped) + " tokens");
  }
  return out;
}

Tokenized Tokenizer::encode_empty() const {
  Tokenized tokens;
  tokens.ids.assign(static_cast<std::size_t>(text_len_), pad_id_);
  tokens.mask.assign(tokens.ids.size(), 0);
  tokens.ids[0] = eos_id_;
  tokens.mask[0] = 1;
  tokens.length = 1;
  return tokens;
}

}  // namespace soragen::tokenizer
