"""Cross-fitted judging: folds, out-of-fold predictions, and the fits that produce them."""
