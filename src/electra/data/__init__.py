"""Data pipelines: tokenizers, corpora, packed shards with exact-resume batching, and the dataset catalogues."""
