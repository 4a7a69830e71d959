"""The proof that every check can fail: the matrix of docs/data/proof-matrix.json, run."""
