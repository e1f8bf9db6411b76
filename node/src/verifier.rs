//! A verification run: the backdoor prompts and controls against an endpoint, and the result.
