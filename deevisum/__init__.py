"""deevisum: distilled early-exit vision-language video summarization (DEEVISum) as a DVC pipeline."""
