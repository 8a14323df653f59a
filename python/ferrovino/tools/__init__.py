"""Command-line tools (``ferrovino benchmark``, ``ferrovino infer``) and the run-time model builders they use."""
