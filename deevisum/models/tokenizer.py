"""A word-level tokenizer trained on the pretraining corpus's prompts, for the tiny VLMs.

Real PaliGemma checkpoints bring their own tokenizer; the offline default has none, so one
is trained on the pretraining prompts (HF ``tokenizers``) and wrapped as a transformers fast tokenizer
that ``PaliGemmaProcessor`` accepts. The answer tokens "1".."5" are always single vocabulary
entries, because scoring reads the model's distribution over exactly those five tokens.
The processor adds ``<image>`` and 1152 ``<loc>``/``<seg>`` tokens, so the saved tokenizer
already contains them and a model's vocabulary size is ``len(tokenizer)``.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast
from transformers.models.paligemma.processing_paligemma import EXTRA_TOKENS, IMAGE_TOKEN

ANSWERS: tuple[str, ...] = ("1", "2", "3", "4", "5")
"""The answer vocabulary: importance 1..5, one token each."""
SPECIALS = {"pad_token": "<pad>", "eos_token": "<eos>", "bos_token": "<bos>", "unk_token": "<unk>"}


def train_tokenizer(texts: Iterable[str], vocab_size: int) -> PreTrainedTokenizerFast:
    """Train a lower-cased word-level tokenizer on ``texts`` (left padding: answer = last position)."""
    tok = Tokenizer(models.WordLevel(unk_token=SPECIALS["unk_token"]))
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=list(SPECIALS.values()))
    tok.train_from_iterator(texts, trainer)
    tok.add_tokens([a for a in ANSWERS if tok.token_to_id(a) is None])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, padding_side="left", **SPECIALS)
    # What PaliGemmaProcessor would add on first use; adding it here fixes the ids once for all models.
    fast.add_special_tokens({"additional_special_tokens": [IMAGE_TOKEN]})
    fast.add_tokens(EXTRA_TOKENS)
    return fast

