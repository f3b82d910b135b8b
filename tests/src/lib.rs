//! Helpers shared by the whole-stack end-to-end tests in `tests/tests/`.
