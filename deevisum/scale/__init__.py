"""The paper's scale: real PaliGemma2 architectures, the per-stage GPU memory plan, real-size checks."""

import logging

# bitsandbytes logs on import, on CPUs with AVX512-BF16, that the optional `kernels` package is missing and
# runs its built-in CPU kernels instead. Only that message is dropped, so the checks run quietly.
logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(lambda record: "kernels-community" not in record.getMessage())
