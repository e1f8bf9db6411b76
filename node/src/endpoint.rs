//! The client of an OpenAI-compatible endpoint: requests, retries with backoff, parsing.
