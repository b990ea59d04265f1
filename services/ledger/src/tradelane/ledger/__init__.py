"""The signals ledger: every signal with its provenance and its outcome, and how each prompt and model performs."""
