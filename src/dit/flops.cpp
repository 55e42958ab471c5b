#include "dit/flops.h"

namespace soragen::dit {

int64_t DitFlops::total() const {
  return patch_embedding + time_embedding + text_embedding + self_attention_projections + self_attention_scores +
         cross_attention_projections + cross_attention_scores + ffn + head;
}

DitFlops dit_forward_flops(const DitConfig& c, int64_t tokens, int64_t batch, int64_t text_rows) {
  // A product of [m, k] by [k, n] costs 2*m*k*n.
  const auto matmul = [](int64_t m, int64_t k, int64_t n) { return 2 * m * k * n; };
  const int64_t L = tokens, T = text_rows > 0 ? text_rows : c.text_len, d = c.dim, layers = c.num_layers;
  DitFlops f;
  f.patch_embedding = matmul(L, c.in_dim * c.patch_volume(), d);
  f.time_embedding = matmul(1, c.freq_dim, d) + matmul(1, d, d) + matmul(1, d, 6 * d);
  f.text_embedding = matmul(T, c.text_dim, d) + matmul(T, d, d);
  // Summed over heads, Q K^T and P V are each an [L, d] x [d, Lk] product.
  f.self_attention_projections = layers * 4 * matmul(L, d, d);
  f.self_attention_scores = layers * 2 * matmul(L, d, L);
  f.cross_attention_projections = layers * (2 * matmul(L, d, d) + 2 * matmul(T, d, d));
  f.cross_attention_scores = layers * 2 * matmul(L, d, T);
  f.ffn = layers * (matmul(L, d, c.ffn_dim) + matmul(L, c.ffn_dim, d));
  f.head = matmul(L, d, c.out_dim * c.patch_volume());
  for (int64_t* part : {&f.patch_embedding, &f.time_embedding, &f.text_embedding, &f.self_attention_projections,
                        &f.self_attention_scores, &f.cross_attention_projections, &f.cross_attention_scores, &f.ffn,
                        &f.head}) {
    *part *= batch;
  }
  return f;
}

}  // namespace soragen::dit
