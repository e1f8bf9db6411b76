//! Multi-process scenarios live in `tests/`.
