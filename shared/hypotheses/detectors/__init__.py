"""One detector per root-cause category; ``shared.hypotheses.registry`` lists them."""
