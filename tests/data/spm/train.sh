#!/bin/sh
# Trains the tiny sentencepiece model the tokenizer tests use (tiny.model),
# shaped like T5/umT5's spiece.model: unigram, pad=0 eos=1 unk=2, no BOS.
# character_coverage=1.0 keeps every Chinese character of the corpus as a
# piece, so Chinese prompts encode without <unk>.
#
# T5 normalises with nmt_nfkc, but that table alone is 240 KB; a small rule
# table (full-width ASCII and the ideographic space to plain ASCII, part of
# what NFKC does) keeps the model tiny while still making the tests see
# sentencepiece's normalisation.
#
# Needs Debian's `sentencepiece` package (spm_train 0.1.97). Run from this
# folder: sh train.sh. Retraining changes the ids hard-coded in tests/tokenizer/:
# regenerate them as described there.
set -eu
{
  i=33
  while [ "$i" -le 126 ]; do
    printf '%X\t%X\n' $((i + 65248)) "$i"
    i=$((i + 1))
  done
  printf '3000\t20\n'
} > rules.tsv
spm_train --input=corpus.txt --model_prefix=tiny --model_type=unigram \
  --vocab_size=400 --character_coverage=1.0 \
  --pad_id=0 --eos_id=1 --unk_id=2 --bos_id=-1 \
  --pad_piece='<pad>' --eos_piece='</s>' --unk_piece='<unk>' \
  --normalization_rule_tsv=rules.tsv \
  --num_threads=1 --minloglevel=1
# Only the model is needed; the .vocab listing is for reading by eye.
rm -f tiny.vocab rules.tsv
