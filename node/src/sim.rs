//! The provider simulator: an OpenAI-compatible server over a word-level model trained at start-up.
