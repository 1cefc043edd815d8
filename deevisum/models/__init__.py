"""The vision-language models: PaliGemma-family build/load/save (vlm), the tokenizer of tiny models,
and one-pass scoring.

bitsandbytes, imported by peft, tries to fetch an optional CPU kernel from the Hugging Face hub
and logs a warning when it cannot, then uses its own kernel; offline that warning would be
printed by every model stage, so it is silenced before anything here imports peft.
"""

import logging

logging.getLogger("bitsandbytes.backends.cpu.ops").setLevel(logging.ERROR)
