"""The field's video-summarization evaluation: keyshot F1, rank correlations, baselines.

``protocol.evaluate_scores`` is the entry point (``deevisum evaluate`` and the evaluation stages
call it); ``context`` builds each video's shots and reference summaries, ``metrics`` the F1 and
rank correlations, ``baselines`` chance and people, ``stats`` means and bootstrap CIs,
``scores`` the scores-file contract, ``ablation`` the table of every trained variant. Shots and
the knapsack are summarization primitives (:mod:`deevisum.summary`), shared with
``deevisum summarize``.
"""
